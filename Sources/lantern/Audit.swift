import ArgumentParser
import Foundation
import LanternLedger
import LanternServer
import LanternStorage
import Logging

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every ledger invariant in a store; exit non-zero on any violation.")

    @OptionGroup var database: DatabaseOption
    @Option(name: .long, help: "File of acknowledged card ids, one per line: each must exist.")
    var acks: String?

    func run() async throws {
        var logger = Logger(label: "lantern.audit")
        logger.logLevel = .warning
        let opened = try openStore(try database.location(), logger: logger)
        let journal = try await opened.whileRunning(logger: logger) { try await opened.store.loadJournal() }
        var problems: [String] = []
        let book: LedgerBook
        do {
            book = try LedgerBook.replaying(journal.map { (batch: UInt64(0), events: $0) })
        } catch {
            print("FAIL journal breaks a ledger rule: \(error)")
            throw ExitCode(1)
        }
        for account in book.allAccounts.sorted(by: { $0.campaign.id < $1.campaign.id }) {
            problems += book.invariantViolations(of: account.campaign.id)
            print(
                "campaign \(account.campaign.id): budget \(account.campaign.budgetFen) = remaining \(account.remainingFen) + outstanding \(account.outstandingFen) + spent \(account.spentFen); \(account.cardsIssued) cards, \(book.holderCount(of: account.campaign.id)) holders"
            )
        }
        problems += book.orderViolations()
        print("orders: \(book.allOrders.count)")
        if let acks {
            let ids = try String(contentsOfFile: acks, encoding: .utf8).split(whereSeparator: \.isNewline)
            var missing = 0
            for id in ids where !Self.exists(String(id), in: book) {
                missing += 1
                if missing <= 20 { problems.append("acknowledged card \(id) is not in the ledger") }
            }
            if missing > 20 { problems.append("… \(missing) acknowledged cards missing in all") }
            print("acknowledged cards checked: \(ids.count), missing: \(missing)")
        }
        if problems.isEmpty {
            print("OK every invariant holds")
        } else {
            for problem in problems { print("FAIL \(problem)") }
            throw ExitCode(1)
        }
    }

    /// Looks up `campaign:owner:ordinal` in the book.
    static func exists(_ id: String, in book: LedgerBook) -> Bool {
        let parts = id.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let ordinal = Int(parts[2]), book.account(String(parts[0])) != nil else { return false }
        let cards = book.cards(of: String(parts[1]), in: String(parts[0]))
        return ordinal >= 0 && ordinal < cards.count
    }
}

import ArgumentParser
import Foundation
import LanternReports
import LanternServer
import LanternStorage
import Logging

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "What a campaign bought, read from the store: funnel, money, referrals, retention, breakdowns, lateness.")

    @OptionGroup var database: DatabaseOption
    @OptionGroup var secret: SecretOption
    @Option(name: .long, help: "The campaign to report on.") var campaign: String
    @Option(name: .long, help: "json, csv or html.") var format: String = "json"
    @Option(name: .long, help: "Write the report here instead of to standard output.") var output: String?
    @Flag(name: .long, help: "Count test traffic (users named test-…, as lantern rush names them) in.") var includeTest = false

    func run() async throws {
        guard let format = ReportFormat(rawValue: format) else { throw ValidationError("--format must be json, csv or html") }
        var logger = Logger(label: "lantern.report")
        logger.logLevel = .warning
        // Users appear by the pseudonym the server gives them (the same secret, the same names).
        let tokens = try await TokenAuthority(secret: try secret.resolve())
        let opened = try openStore(try database.location(), logger: logger)
        let read = try await opened.whileRunning(logger: logger) {
            let city = try await CityDefinition.load(from: opened.store)
            return try await readCampaignReport(
                campaign, from: opened.store, stores: city?.stores ?? [], tokens: tokens, includingTest: includeTest)
        }
        guard let report = read
        else {
            FileHandle.standardError.write(Data("lantern report: there is no campaign '\(campaign)' in the store\n".utf8))
            throw ExitCode(1)
        }
        let text = report.export(format)
        if let output {
            try Data(text.utf8).write(to: URL(fileURLWithPath: output))
        } else {
            print(text, terminator: format == .csv ? "" : "\n")
        }
    }
}

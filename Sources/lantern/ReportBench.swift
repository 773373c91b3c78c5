import Foundation
import LanternApp
import LanternCatalog
import LanternLedger
import LanternOrders
import LanternReports
import LanternServer
import LanternStorage
import Logging
import NIOCore
import PostgresNIO

/// The campaign report over a recorded history of `events` events, against the baseline of
/// loading the store's whole journal into memory, which any report must at least read.
struct ReportBenchmark {
    let events: Int
    let logger: Logger

    /// The campaign the history belongs to.
    static let campaign = Campaign(
        id: "bench-report", name: "Report benchmark", budgetFen: 100_000_000_000, cardValueFen: 2_500, maxCardsPerUser: 3,
        startsAt: Date(timeIntervalSince1970: 1_769_900_000), endsAt: Date(timeIntervalSince1970: 1_772_500_000),
        cardsExpireAt: Date(timeIntervalSince1970: 1_775_000_000))

    /// Figures of one run.
    struct Figures {
        var written: Int
        var writeSeconds: Double
        var readSeconds: Double
        var reportSeconds: Double
        var cardsIssued: Int
    }

    /// A user's history: a card a minute apart from the last user's; seven in ten order with it
    /// two minutes later, and the order goes placed → accepted → ready → picked up → delivered.
    static func history(user index: Int, stores: [Store]) -> [LedgerEvent] {
        let startMs = campaign.startsAt.millisecondsSince1970 + Int64(index) * 1_000
        let owner = "u\(index)"
        let issue = CardIssue(
            campaign: campaign.id, owner: owner, ordinal: 0, kind: .welcome, valueFen: campaign.cardValueFen,
            issuedAtMs: startMs, claim: ClaimKey(key: "k\(index)", digest: BodyDigest(high: UInt64(index), low: 1)),
            counterpart: index % 5 == 1 ? "u\(index - 1)" : nil)
        guard index % 10 < 7 else { return [.cardIssued(issue)] }
        let store = stores[index % stores.count]
        let placed = startMs + 120_000
        let id = String(format: "o-%016x", index)
        let draft = OrderDraft(
            id: id, user: owner, merchantID: store.id,
            items: [
                PricedLine(
                    line: OrderLine(
                        drink: store.drinks[index % store.drinks.count], size: .large, sugar: 50, ice: .less, quantity: 1 + index % 2),
                    unitPriceFen: 1_800)
            ],
            cardID: issue.cardID, deliveryFeeFen: 300,
            address: DeliveryAddress(lat: store.location.lat + 0.004, lng: store.location.lng + 0.003, text: "Benchmark Road \(index)"),
            promisedAtMs: placed + 1_800_000, idempotency: ClaimKey(key: "o\(index)", digest: BodyDigest(high: UInt64(index), low: 2)))
        let order = Order(draft: draft, discountFen: 2_500, placedAtMs: placed)
        let steps: [(OrderState, Int64)] = [
            (.accepted, 30_000), (.ready, 600_000), (.pickedUp, 900_000), (.delivered, 1_500_000 + Int64(index % 900) * 1_000),
        ]
        return [.cardIssued(issue), .orderPlaced(order)]
            + steps.map { .orderChanged(OrderChange(orderID: id, state: $0.0, atMs: placed + $0.1, settlement: nil)) }
    }

    /// Writes the history in batches through `write`, `events` events in all (a little more to
    /// finish the last user), and returns how many were written.
    static func write(events: Int, stores: [Store], batch: Int = 20_000, _ write: ([LedgerEvent]) async throws -> Void) async throws -> Int {
        var written = 0
        var pending: [LedgerEvent] = [.campaignCreated(campaign)]
        var user = 0
        while written + pending.count < events {
            pending += history(user: user, stores: stores)
            user += 1
            if pending.count >= batch {
                try await write(pending)
                written += pending.count
                pending = []
            }
        }
        if !pending.isEmpty {
            try await write(pending)
            written += pending.count
        }
        return written
    }

    /// An experiment over the history's first half, so that the report computes one too.
    static func experiment() throws -> Experiment {
        try Experiment(
            id: "bench-routing", campaign: campaign.id, policy: .routing,
            variants: [.init(name: "soonest", value: "soonest"), .init(name: "nearest", value: "nearest")],
            startedAt: campaign.startsAt)
    }

    /// Writes the history into `opened`'s store by `write` and times the report over it.
    func run(_ opened: OpenedStore, write: @escaping @Sendable ([LedgerEvent]) async throws -> Void) async throws -> Figures {
        let stores = DemoCity.stores(count: 300, seed: 2026)
        let tokens = try await TokenAuthority(secret: String(repeating: "b", count: 32))
        return try await opened.whileRunning(logger: logger) {
            let started = ContinuousClock.now
            let written = try await Self.write(events: events, stores: stores, write)
            try await opened.store.saveJSON([try Self.experiment()], key: ExperimentService.key)
            // As autovacuum would have by the time anyone reads a report: the planner knows the
            // tables' sizes, and the freshly written rows are vacuumed (otherwise autovacuum does
            // it during the report, on the same cores).
            if let shared = opened.store as? PostgresLedgerStore {
                try await shared.client.query("VACUUM (ANALYZE) cards, order_events", logger: logger)
            }
            let wrote = ContinuousClock.now
            guard
                let report = try await readCampaignReport(
                    Self.campaign.id, from: opened.store, stores: stores, tokens: tokens, includingTest: false)
            else { throw ReportBenchError(message: "the report found no campaign") }
            _ = report.export(.json)
            let reported = ContinuousClock.now
            // The baseline, after the report so that its gigabytes do not weigh on it: loading the
            // whole journal, as a report that held it all would.
            _ = try await opened.store.loadJournal().count
            let loaded = ContinuousClock.now
            return Figures(
                written: written, writeSeconds: (wrote - started).secondsValue, readSeconds: (loaded - reported).secondsValue,
                reportSeconds: (reported - wrote).secondsValue, cardsIssued: report.funnel.cardsIssued)
        }
    }

    /// Writes a batch straight into a shared database's tables, as nodes' commits leave them
    /// (the benchmark measures the report, not the claims that made the history).
    static func insert(_ batch: [LedgerEvent], into store: PostgresLedgerStore, logger: Logger) async throws {
        var owners: [String] = []
        var issued: [Int64] = []
        var counterparts: [String] = []
        var orderIDs: [String] = []
        var kinds: [String] = []
        var payloads: [ByteBuffer] = []
        var users: [String] = []
        var userOfOrder: [String: String] = [:]
        for event in batch {
            switch event {
            case .campaignCreated:
                try await store.append([event])
            case .cardIssued(let issue):
                owners.append(issue.owner)
                issued.append(issue.issuedAtMs)
                counterparts.append(issue.counterpart ?? "")
            case .orderPlaced(let order):
                userOfOrder[order.id] = order.draft.user
                orderIDs.append(order.id)
                kinds.append("placed")
                payloads.append(ByteBuffer(bytes: JournalCodec.encode([event])))
                users.append(order.draft.user)
            case .orderChanged(let change):
                orderIDs.append(change.orderID)
                kinds.append(change.state.rawValue)
                payloads.append(ByteBuffer(bytes: JournalCodec.encode([event])))
                users.append(userOfOrder[change.orderID] ?? "")
            default:
                continue
            }
        }
        try await store.client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO cards (campaign, owner, ordinal, kind, value_fen, issued_at_ms, counterpart)
                SELECT \(campaign.id), u.owner, 0, 0, \(campaign.cardValueFen), u.issued, NULLIF(u.counterpart, '')
                FROM unnest(\(owners)::text[], \(issued)::int8[], \(counterparts)::text[]) AS u(owner, issued, counterpart)
                """, logger: logger)
            try await connection.query(
                """
                INSERT INTO order_events (order_id, kind, payload, user_id)
                SELECT * FROM unnest(\(orderIDs)::text[], \(kinds)::text[], \(payloads)::bytea[], \(users)::text[])
                """, logger: logger)
        }
    }
}

/// The benchmark could not run.
struct ReportBenchError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

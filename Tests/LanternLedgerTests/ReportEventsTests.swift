import Foundation
import LanternCatalog
import Testing

@testable import LanternLedger

/// The report's decoder of journal records, held to the full decoder: on any record, what it
/// reads is what a report takes in of the full decoder's events, and it refuses what that
/// refuses.
@Suite("Report events")
struct ReportEventsTests {
    static let campaigns = ["spring", "spring2", "autumn", "春节"]
    static let users = ["ann", "bob", "test-rush-1", "用户甲", "a:b", "u-with-a-rather-long-identifier-0001", ""]

    static func name(_ pool: [String], _ random: inout SplitMix64) -> String { pool.randomElement(using: &random)! }

    /// Any event the ledger writes, with fields a report reads and fields it does not.
    static func event(_ random: inout SplitMix64) -> LedgerEvent {
        let at = Int64.random(in: 1_700_000_000_000...1_800_000_000_000, using: &random)
        switch Int.random(in: 0..<10, using: &random) {
        case 0:
            let campaign = Campaign(
                id: name(campaigns, &random), name: "Campaign \(at)", budgetFen: .random(in: 0...1_000_000, using: &random),
                cardValueFen: 2_500, maxCardsPerUser: 3, startsAt: Date(millisecondsSince1970: at),
                endsAt: Date(millisecondsSince1970: at + 1_000), cardsExpireAt: Date(millisecondsSince1970: at + 2_000))
            return Bool.random(using: &random) ? .campaignCreated(campaign) : .campaignUpdated(campaign)
        case 1:
            return .cardsExpired(campaign: name(campaigns, &random), at: Date(millisecondsSince1970: at))
        case 2, 3, 4:
            return .cardIssued(
                CardIssue(
                    campaign: name(campaigns, &random), owner: name(users, &random), ordinal: .random(in: 0...3, using: &random),
                    kind: Bool.random(using: &random) ? .welcome : .referral, valueFen: .random(in: -5...5_000, using: &random),
                    issuedAtMs: at,
                    claim: Bool.random(using: &random) ? ClaimKey(key: "key-\(at)", digest: BodyDigest(high: 1, low: 2)) : nil,
                    counterpart: Bool.random(using: &random) ? name(users, &random) : nil))
        case 5, 6, 7:
            let user = name(users, &random)
            let card: String? =
                switch Int.random(in: 0..<4, using: &random) {
                case 0: nil
                case 1: "\(name(campaigns, &random)):\(user):\(Int.random(in: 0...3, using: &random))"
                case 2: "\(name(campaigns, &random)):\(user):x"
                default: "spring"
                }
            let lines = (0..<Int.random(in: 0...3, using: &random)).map { index in
                PricedLine(
                    line: OrderLine(
                        drink: ["Pearl Milk Tea", "芋泥波波", "Americano"][index], size: [nil, .medium, .large][index],
                        sugar: index * 30, ice: [nil, .less, .none][index],
                        toppings: Array(Topping.allCases.prefix(index)), quantity: index + 1),
                    unitPriceFen: 1_800)
            }
            let draft = OrderDraft(
                id: "o-\(Int.random(in: 0..<8, using: &random))", user: user, merchantID: "store-\(Int.random(in: 0..<3, using: &random))",
                items: lines, cardID: card, deliveryFeeFen: 300,
                address: DeliveryAddress(
                    lat: .random(in: 30...32, using: &random), lng: .random(in: 120...122, using: &random),
                    text: Bool.random(using: &random) ? "人民广场1号" : ""),
                promisedAtMs: at + 1_800_000, idempotency: ClaimKey(key: "order-\(at)", digest: BodyDigest(high: 3, low: 4)))
            return .orderPlaced(Order(draft: draft, discountFen: .random(in: 0...2_500, using: &random), placedAtMs: at))
        default:
            return .orderChanged(
                OrderChange(
                    orderID: "o-\(Int.random(in: 0..<8, using: &random))", state: OrderState.allCases.randomElement(using: &random)!,
                    atMs: at, settlement: [nil, .returned, .released].randomElement(using: &random)!))
        }
    }

    /// Lets the suite's other tasks run every hundred rounds: on two cores a loop that never
    /// yields holds half of the cooperative pool, and the servers of other tests answer late.
    static func shareThePool(_ round: Int) async {
        if round % 100 == 99 { await Task.yield() }
    }

    /// What a report takes in of the full decoder's events of `record`, or nil where it refuses the record.
    static func expected(_ record: [UInt8], campaign: String) -> ReportBatch? {
        guard let events = try? JournalCodec.decode(record) else { return nil }
        var batch = ReportBatch(campaign: campaign)
        for event in events { batch.append(event) }
        return batch
    }

    /// The report's decoder's batch of `record`, or nil where it refuses it.
    static func decoded(_ record: [UInt8], campaign: String) -> ReportBatch? {
        var batch = ReportBatch(campaign: campaign)
        do {
            try record.withUnsafeBytes { try JournalCodec.decodeReport($0, into: &batch) }
            return batch
        } catch {
            return nil
        }
    }

    @Test("On any record the ledger writes, the report's decoder reads what a report takes in of the events")
    func agreesOnRecords() async {
        var random = SplitMix64(seed: 2026)
        var eventsRead = 0
        for round in 0..<2_000 {
            await Self.shareThePool(round)
            let events = (0..<Int.random(in: 1...12, using: &random)).map { _ in Self.event(&random) }
            let record = JournalCodec.encode(events)
            for campaign in ["spring", "春节"] {
                let expected = Self.expected(record, campaign: campaign)
                #expect(expected != nil)
                #expect(Self.decoded(record, campaign: campaign) == expected, "record \(record)")
                eventsRead += expected?.events.count ?? 0
            }
        }
        #expect(eventsRead > 10_000, "the records hold events a report reads")
    }

    /// A batch's events with their names as strings: what a damaged record's reading is held to,
    /// since the full decoder repairs bytes that are not UTF-8 where the report's keeps them.
    static func named(_ batch: ReportBatch?) -> [String]? {
        batch.map { batch in
            batch.events.map { event in
                switch event {
                case .campaign(let campaign): "campaign \(campaign)"
                case .cardsExpired(let campaign): "expired \(campaign)"
                case .card(let card):
                    "card \(batch.string(card.owner)) \(card.ordinal) \(card.kind) \(card.valueFen) \(card.issuedAtMs) "
                        + (card.counterpart.map { batch.string($0) } ?? "-")
                case .order(let order):
                    "order \(batch.string(order.id)) \(batch.string(order.user)) \(batch.string(order.merchant)) \(order.cardOrdinal) "
                        + "\(order.placedAtMs) \(order.promisedAtMs) \(order.discountFen) \(order.cell) "
                        + batch.items[Int(order.items.lowerBound)..<Int(order.items.upperBound)].map {
                            "\(batch.string($0.drink))×\($0.quantity)"
                        }.joined(separator: ",")
                case .ending(let order, let state, let at): "ending \(batch.string(order)) \(state) \(at)"
                }
            }
        }
    }

    @Test("A damaged record is refused by both decoders or read alike by both")
    func agreesOnDamagedRecords() async {
        var random = SplitMix64(seed: 7)
        var refused = 0
        for round in 0..<4_000 {
            await Self.shareThePool(round)
            var record = JournalCodec.encode((0..<Int.random(in: 1...4, using: &random)).map { _ in Self.event(&random) })
            switch Int.random(in: 0..<3, using: &random) {
            case 0: record.removeLast(Int.random(in: 1...record.count - 1, using: &random))
            case 1: record[Int.random(in: 1..<record.count, using: &random)] = .random(in: 0...255, using: &random)
            default: record.insert(.random(in: 0...255, using: &random), at: Int.random(in: 1..<record.count, using: &random))
            }
            let expected = Self.expected(record, campaign: "spring")
            if expected == nil { refused += 1 }
            #expect(Self.named(Self.decoded(record, campaign: "spring")) == Self.named(expected), "record \(record)")
        }
        #expect(refused > 1_000, "damage is refused often enough to test refusals")
    }

    @Test("A card's ordinal is read from its id's bytes, and only for the campaign's cards")
    func cardOrdinals() {
        let read = { (card: String) -> Int32 in
            var card = card
            return card.withUTF8 { ReportBatch.ordinal(ofCard: UnsafeRawBufferPointer($0), campaign: "spring") }
        }
        #expect(read(Card.id(campaign: "spring", owner: "ann", ordinal: 0)) == 0)
        #expect(read(Card.id(campaign: "spring", owner: "a:b", ordinal: 12)) == 12)
        #expect(read(Card.id(campaign: "spring2", owner: "ann", ordinal: 1)) == -1)
        #expect(read(Card.id(campaign: "autumn", owner: "ann", ordinal: 1)) == -1)
        #expect(read("spring:ann:") == -1)
        #expect(read("spring:ann:1x") == -1)
        #expect(read("spring:7") == -1, "an id without an owner is no card")
        #expect(read("spring") == -1)
        #expect(read("spring:用户:3") == 3)
        #expect(read("spring:ann:1234567890") == -1, "more digits than an ordinal has")
    }

    @Test("Batches put together keep every name and line where it was")
    func appendedBatches() {
        var random = SplitMix64(seed: 11)
        var whole = ReportBatch(campaign: "spring")
        var parts = ReportBatch(campaign: "spring")
        for _ in 0..<50 {
            var part = ReportBatch(campaign: "spring")
            for _ in 0..<5 {
                let event = Self.event(&random)
                whole.append(event)
                part.append(event)
            }
            parts.append(contentsOf: part)
        }
        #expect(parts == whole)
        #expect(whole.events.count > 50)
    }
}

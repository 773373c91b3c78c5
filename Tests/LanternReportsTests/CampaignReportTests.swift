import Foundation
import LanternCatalog
import LanternLedger
import Testing

@testable import LanternReports

/// A small campaign whose every figure is worked out by hand below.
///
/// ann claims at T, orders at T+60 s with her card, delivered 300 s after the promise; she orders
/// again (paid) the next day. bob claims at T+10 s through ann's referral (ann gets a bonus card),
/// orders at T+130 s and cancels. cy had a paid order the day before, claims at T+20 s through
/// bob's referral, orders at T+200 s, delivered 300 s early. Then the cards expire.
struct ReportFixture {
    static let start = Date(timeIntervalSince1970: 1_769_911_200)  // 2026-02-01 02:00 UTC, 10:00 in Shanghai
    static let stores = DemoCity.stores(count: 3, seed: 1)
    static let key = ClaimKey(key: "k", digest: BodyDigest(high: 1, low: 2))

    static func ms(_ seconds: Double) -> Int64 { Int64((start.timeIntervalSince1970 + seconds) * 1_000) }

    static func card(_ owner: String, _ ordinal: Int, _ kind: CardKind, at seconds: Double, counterpart: String? = nil) -> LedgerEvent {
        .cardIssued(
            CardIssue(
                campaign: "spring", owner: owner, ordinal: ordinal, kind: kind, valueFen: 2_500, issuedAtMs: ms(seconds),
                claim: nil, counterpart: counterpart))
    }

    static func order(_ id: String, _ user: String, card: String?, store: Int, drink: String, cups: Int, at seconds: Double, promisedIn: Double = 1_500)
        -> LedgerEvent
    {
        let draft = OrderDraft(
            id: id, user: user, merchantID: stores[store].id,
            items: [PricedLine(line: OrderLine(drink: drink, size: .medium, sugar: 50, ice: .less, quantity: cups), unitPriceFen: 1_500)],
            cardID: card, deliveryFeeFen: 500, address: DeliveryAddress(lat: 31.2304, lng: 121.4737, text: "1 Secret Road"),
            promisedAtMs: ms(seconds + promisedIn), idempotency: key)
        return .orderPlaced(Order(draft: draft, discountFen: card == nil ? 0 : 2_500, placedAtMs: ms(seconds)))
    }

    static func change(_ id: String, _ state: OrderState, at seconds: Double) -> LedgerEvent {
        .orderChanged(OrderChange(orderID: id, state: state, atMs: ms(seconds), settlement: nil))
    }

    static let journal: [LedgerEvent] = [
        .campaignCreated(
            Campaign(
                id: "spring", name: "Spring", budgetFen: 100_000, cardValueFen: 2_500, maxCardsPerUser: 3, startsAt: start,
                endsAt: start.addingTimeInterval(86_400), cardsExpireAt: start.addingTimeInterval(172_800))),
        order("o0", "cy", card: nil, store: 2, drink: "oolong tea", cups: 1, at: -86_400),
        card("ann", 0, .welcome, at: 0),
        card("bob", 0, .welcome, at: 10, counterpart: "ann"), card("ann", 1, .referral, at: 10, counterpart: "bob"),
        card("cy", 0, .welcome, at: 20, counterpart: "bob"), card("bob", 1, .referral, at: 20, counterpart: "cy"),
        order("o1", "ann", card: Card.id(campaign: "spring", owner: "ann", ordinal: 0), store: 0, drink: "pearl milk tea", cups: 2, at: 60),
        order("o3", "bob", card: Card.id(campaign: "spring", owner: "bob", ordinal: 0), store: 1, drink: "pearl milk tea", cups: 1, at: 130),
        change("o3", .cancelled, at: 140),
        order("o4", "cy", card: Card.id(campaign: "spring", owner: "cy", ordinal: 0), store: 0, drink: "taro milk tea", cups: 1, at: 200),
        change("o1", .delivered, at: 60 + 1_800), change("o4", .delivered, at: 200 + 1_200),
        order("o2", "ann", card: nil, store: 0, drink: "pearl milk tea", cups: 1, at: 86_400),
        // Test traffic from lantern rush: left out unless asked for.
        card("test-rush7x0", 0, .welcome, at: 30),
        order("o5", "test-rush7x0", card: Card.id(campaign: "spring", owner: "test-rush7x0", ordinal: 0), store: 1, drink: "oolong tea", cups: 1, at: 90),
        .cardsExpired(campaign: "spring", at: start.addingTimeInterval(172_800)),
    ]

    static var report: CampaignReport {
        CampaignReport(campaign: "spring", journal: journal, stores: stores) { "p-" + String($0.reversed()) }!
    }
}

@Suite("Campaign report")
struct CampaignReportTests {
    @Test("Funnel, money, referrals, customers, retention and lateness as worked out by hand")
    func figures() {
        let report = ReportFixture.report
        #expect(report.funnel.cardsIssued == 5)
        #expect(report.funnel.welcomeCards == 3)
        #expect(report.funnel.referralCards == 2)
        #expect(report.funnel.cardsOrdered == 3)
        #expect(report.funnel.cardsDelivered == 2)
        #expect(report.funnel.redemptionRate == 0.4)
        #expect(report.funnel.medianClaimToOrderSeconds == 120)  // 60, 120, 180
        #expect(report.funnel.medianOrderToDeliverySeconds == 1_200)  // 1,200 and 1,800: the lower middle
        #expect(report.money.spentFen == 5_000)
        #expect(report.money.deliveredCardOrders == 2)
        #expect(report.money.costPerDeliveredOrderFen == 2_500)
        #expect(report.money.expiredUnusedFen == 7_500)  // bob's welcome card and both bonus cards
        #expect(report.referrals.referrers == 2)
        #expect(report.referrals.referred == 2)
        #expect(report.referrals.maxFanOut == 1)
        #expect(report.referrals.depth == 2)  // cy ← bob ← ann
        #expect(report.referrals.top.map(\.key) == ["p-nna", "p-bob"], "one each: ties in the order of the users' ids")
        #expect(report.customers.new == 2)
        #expect(report.customers.returning == 1)
        #expect(report.retention == [CampaignReport.RetentionCohort(day: "2026-02-01", users: 2, day1: 1, day7: 1)])
        #expect(report.lateness.delivered == 2)
        #expect(report.lateness.onTime == 1)
        #expect(report.lateness.p50Seconds == -300)
        #expect(report.lateness.p90Seconds == 300)
        #expect(report.breakdowns.hours[10] == 3)
        #expect(report.breakdowns.drinks.first == CampaignReport.Count(key: "pearl milk tea", count: 3))
        #expect(report.breakdowns.stores.first?.count == 2)
        #expect(report.breakdowns.districts.map(\.count).reduce(0, +) == 3)
        #expect(report.breakdowns.cells == [CampaignReport.Count(key: "31.2300,121.4710", count: 3)])
    }

    @Test("Exports name no user and no address, in every format")
    func exportsArePseudonymous() {
        let report = ReportFixture.report
        for format in ReportFormat.allCases {
            let text = report.export(format)
            #expect(!text.contains("Secret Road"), "\(format)")
            #expect(!text.contains("\"ann\"") && !text.contains(",ann,") && !text.contains(">ann<"), "\(format)")
        }
        let csv = report.export(.csv)
        #expect(csv.hasPrefix("section,key,value\r\n"))
        #expect(csv.contains("money,spent_fen,5000\r\n"))
        #expect(csv.contains("top_referrers,p-nna,1\r\n"))
        let json = try? JSONSerialization.jsonObject(with: Data(report.export(.json).utf8)) as? [String: Any]
        #expect((json?["money"] as? [String: Any])?["expired_unused_fen"] as? Int == 7_500)
        #expect(report.export(.html).contains("cards issued"))
    }

    @Test("Test traffic is left out unless asked for, and the report says how many users it left out")
    func testTraffic() {
        #expect(ReportFixture.report.testUsersLeftOut == 1)
        let counted = CampaignReport(campaign: "spring", journal: ReportFixture.journal, stores: ReportFixture.stores, includingTest: true) { $0 }!
        #expect(counted.testUsersLeftOut == 0)
        #expect(counted.funnel.cardsIssued == 6)
        #expect(counted.funnel.cardsOrdered == 4)
    }

    @Test("An unknown campaign has no report")
    func unknownCampaign() {
        #expect(CampaignReport(campaign: "autumn", journal: ReportFixture.journal, stores: []) { $0 } == nil)
    }
}

import Foundation
import LanternCatalog
import LanternLedger
import LanternOrders

/// What a campaign bought, read from its ledger's journal (the database's, so every node's
/// claims and orders are in it): the funnel from card to delivered order, what it cost, what
/// expired, the referral tree, new and returning customers, repeat orders after the free one,
/// where and what was ordered, and how late deliveries were against their promise.
///
/// Users appear only as keyed pseudonyms and delivery addresses only as cells of about 500 m.
public struct CampaignReport: Sendable, Equatable, Codable {
    /// The campaign reported on.
    public var campaign: CampaignSummary
    /// Claimed → ordered → delivered.
    public var funnel: Funnel
    /// Money: what the cards paid for and what they left unused.
    public var money: Money
    /// Who brought whom.
    public var referrals: Referrals
    /// Customers new to Lantern against those who had ordered before their card.
    public var customers: Customers
    /// Orders again after the free one, by the day of the first free order.
    public var retention: [RetentionCohort]
    /// Card orders by where and what, busiest first.
    public var breakdowns: Breakdowns
    /// Deliveries of card orders against their promised time.
    public var lateness: Lateness
    /// The campaign's experiments, each variant against the control.
    public var experiments: [ExperimentResult]
    /// Users of the test namespace (`lantern rush`'s) whose cards and orders were left out;
    /// 0 when they were counted in.
    public var testUsersLeftOut: Int

    /// The campaign's terms and accounting.
    public struct CampaignSummary: Sendable, Equatable, Codable {
        /// The campaign id.
        public var id: String
        /// Its name.
        public var name: String
        /// Its budget in fen.
        public var budgetFen: Int64
        /// Face value of a card in fen.
        public var cardValueFen: Int64
        /// When claims open.
        public var startsAt: Date
        /// When claims close.
        public var endsAt: Date
        /// Whether its cards have expired.
        public var cardsExpired: Bool
    }

    /// The funnel of cards.
    public struct Funnel: Sendable, Equatable, Codable {
        /// Cards issued: welcome and referral.
        public var cardsIssued: Int
        /// Of them, welcome cards.
        public var welcomeCards: Int
        /// Of them, referral bonuses.
        public var referralCards: Int
        /// Cards used in an order at least once.
        public var cardsOrdered: Int
        /// Cards spent on a delivered order.
        public var cardsDelivered: Int
        /// Median seconds from a card's issue to its first order.
        public var medianClaimToOrderSeconds: Double?
        /// Median seconds from a card order to its delivery.
        public var medianOrderToDeliverySeconds: Double?
        /// Cards spent over cards issued.
        public var redemptionRate: Double
    }

    /// What the campaign paid.
    public struct Money: Sendable, Equatable, Codable {
        /// Discounts of delivered card orders: what the budget actually paid.
        public var spentFen: Int64
        /// Delivered orders paid with a card.
        public var deliveredCardOrders: Int
        /// Spent over delivered card orders; nil with none.
        public var costPerDeliveredOrderFen: Int64?
        /// Face value of cards never spent, once the cards have expired (0 before).
        public var expiredUnusedFen: Int64
    }

    /// The referral tree.
    public struct Referrals: Sendable, Equatable, Codable {
        /// Users who brought at least one new user.
        public var referrers: Int
        /// New users brought by a referrer.
        public var referred: Int
        /// Most new users brought by one referrer.
        public var maxFanOut: Int
        /// Mean new users per referrer.
        public var meanFanOut: Double
        /// Longest chain of referrals (A brought B, B brought C: 2).
        public var depth: Int
        /// The referrers who brought the most, by pseudonym.
        public var top: [Count]
    }

    /// New against returning.
    public struct Customers: Sendable, Equatable, Codable {
        /// Card holders with no order before their card.
        public var new: Int
        /// Card holders who had ordered before their card.
        public var returning: Int
    }

    /// Users whose first free order was delivered on one day (Shanghai time), and how many
    /// ordered again the next day and within seven days.
    public struct RetentionCohort: Sendable, Equatable, Codable {
        /// The day, `YYYY-MM-DD`.
        public var day: String
        /// Users whose first free order was delivered that day.
        public var users: Int
        /// Of them, those who ordered again the next day.
        public var day1: Int
        /// Of them, those who ordered again within seven days.
        public var day7: Int
    }

    /// A name and how many.
    public struct Count: Sendable, Equatable, Codable {
        /// What is counted.
        public var key: String
        /// How many.
        public var count: Int
    }

    /// Card orders broken down.
    public struct Breakdowns: Sendable, Equatable, Codable {
        /// By the district nearest the delivery address.
        public var districts: [Count]
        /// By delivery cell of about 500 m ("lat,lng" of the cell's corner).
        public var cells: [Count]
        /// By store ("id name").
        public var stores: [Count]
        /// By brand.
        public var brands: [Count]
        /// Cups by drink.
        public var drinks: [Count]
        /// Orders by hour of the day, Shanghai time, 0…23.
        public var hours: [Int]
    }

    /// Delivery against the promise.
    public struct Lateness: Sendable, Equatable, Codable {
        /// Card orders delivered.
        public var delivered: Int
        /// Delivered at or before the promised time.
        public var onTime: Int
        /// Seconds after the promise (negative: early) at the median.
        public var p50Seconds: Double?
        /// At the 90th percentile.
        public var p90Seconds: Double?
    }
}

extension CampaignReport {
    /// Shanghai's offset from UTC: the demo city's days and hours.
    static let cityOffsetSeconds = 8 * 3_600
    /// Rows kept in each breakdown.
    static let rowsPerBreakdown = 20
    /// User ids that are test traffic: `lantern rush` names its simulated users so.
    public static let testUserPrefix = "test-"

    /// Reads the report of `campaign` from `journal` (every event, in order). `stores` names the
    /// stores and brands; `pseudonym` stands in for a user id; test traffic (user ids starting
    /// with `testUserPrefix`) is left out unless `includingTest`. Nil when there is no such campaign.
    /// `experiments` are those defined on any campaign; `assignment` gives the keyed hash that
    /// assigned a user (second) a variant of an experiment (first), as the server computed it.
    public init?(
        campaign id: String, journal: some Sequence<LedgerEvent>, stores: [Store], includingTest: Bool = false,
        experiments: [Experiment] = [], assignment: (String, String) -> UInt64 = { _, _ in 0 },
        pseudonym: (String) -> String
    ) {
        var batch = ReportBatch(campaign: id)
        for event in journal { batch.append(event) }
        var reading = Reading(campaign: id, includingTest: includingTest)
        reading.add(batch)
        self.init(reading, stores: stores, experiments: experiments, assignment: assignment, pseudonym: pseudonym)
    }

    /// The report of what `reading` took in; nil when it never saw the campaign.
    public init?(
        _ reading: Reading, stores: [Store], experiments: [Experiment] = [],
        assignment: (String, String) -> UInt64 = { _, _ in 0 }, pseudonym: (String) -> String
    ) {
        guard let definition = reading.definition else { return nil }
        let cards = reading.cards
        let orders = reading.orders
        let users = reading.users.count
        testUsersLeftOut = reading.testUsers.count
        campaign = CampaignSummary(
            id: definition.id, name: definition.name, budgetFen: definition.budgetFen,
            cardValueFen: definition.cardValueFen, startsAt: definition.startsAt, endsAt: definition.endsAt,
            cardsExpired: reading.expired)

        // Card orders: those whose card is one of the campaign's (a test user's card was left out).
        var cardOf = [Int32](repeating: -1, count: orders.count)
        for index in 0..<orders.count {
            cardOf[index] = cards.row(user: orders.user[index], ordinal: Int(orders.cardOrdinal[index])) ?? -1
        }
        let cardOrders = (0..<orders.count).filter { cardOf[$0] >= 0 }
        let delivered = cardOrders.filter { orders.state[$0] == .delivered }

        var firstOrder = [Int64](repeating: .max, count: cards.count)
        for index in cardOrders { firstOrder[Int(cardOf[index])] = min(firstOrder[Int(cardOf[index])], orders.placedAt[index]) }
        var spent = [Bool](repeating: false, count: cards.count)
        for index in delivered { spent[Int(cardOf[index])] = true }
        let spentCount = spent.count { $0 }
        let ordered = (0..<cards.count).filter { firstOrder[$0] != .max }
        funnel = Funnel(
            cardsIssued: cards.count, welcomeCards: cards.kind.count { $0 == .welcome },
            referralCards: cards.kind.count { $0 == .referral }, cardsOrdered: ordered.count, cardsDelivered: spentCount,
            medianClaimToOrderSeconds: Self.percentile(ordered.map { Double(firstOrder[$0] - cards.issuedAt[$0]) / 1_000 }, 0.5),
            medianOrderToDeliverySeconds: Self.percentile(
                delivered.map { Double(orders.updatedAt[$0] - orders.placedAt[$0]) / 1_000 }, 0.5),
            redemptionRate: cards.count == 0 ? 0 : Double(spentCount) / Double(cards.count))

        let spentFen = delivered.reduce(Int64(0)) { $0 + orders.discount[$1] }
        money = Money(
            spentFen: spentFen, deliveredCardOrders: delivered.count,
            costPerDeliveredOrderFen: delivered.isEmpty ? nil : spentFen / Int64(delivered.count),
            expiredUnusedFen: reading.expired
                ? (0..<cards.count).reduce(Int64(0)) { spent[$1] ? $0 : $0 + cards.value[$1] } : 0)

        // Referral edges: a welcome card names the referrer who got a bonus with it.
        var broughtBy = [Int32](repeating: -1, count: users)
        var fanOut = [Int](repeating: 0, count: users)
        var referred = 0
        for card in 0..<cards.count where cards.kind[card] == .welcome && cards.counterpart[card] >= 0 {
            let (user, referrer) = (Int(cards.user[card]), cards.counterpart[card])
            if broughtBy[user] < 0 { referred += 1 }
            broughtBy[user] = referrer
            fanOut[Int(referrer)] += 1
        }
        // Chain lengths, each user's worked out once (a cycle, which the ledger never makes, stops).
        var depthOf = [Int32](repeating: -1, count: users)
        var chain: [Int] = []
        for start in 0..<users where depthOf[start] < 0 {
            chain.removeAll(keepingCapacity: true)
            var current = start
            while depthOf[current] < 0, broughtBy[current] >= 0, chain.count < users {
                chain.append(current)
                current = Int(broughtBy[current])
            }
            var length = depthOf[current] >= 0 ? depthOf[current] : 0
            for member in chain.reversed() where depthOf[member] < 0 {
                length += 1
                depthOf[member] = length
            }
            if depthOf[start] < 0 { depthOf[start] = 0 }
        }
        let referrers = (0..<users).filter { fanOut[$0] > 0 }
        referrals = Referrals(
            referrers: referrers.count, referred: referred, maxFanOut: fanOut.max() ?? 0,
            meanFanOut: referrers.isEmpty ? 0 : Double(referred) / Double(referrers.count),
            depth: Int(depthOf.max() ?? 0),
            // Ties in the order of the users' ids; only the ten shown are given their pseudonyms.
            top: Self.top(referrers.map { (reading.users.name($0), fanOut[$0]) }, limit: 10)
                .map { Count(key: pseudonym($0.key), count: $0.count) })

        // New against returning: a card holder is returning with an order before their card.
        var firstAnyOrder = [Int64](repeating: .max, count: users)
        for (user, at) in zip(reading.anyOrderUser, reading.anyOrderAt) { firstAnyOrder[Int(user)] = min(firstAnyOrder[Int(user)], at) }
        var new = 0
        var returning = 0
        for card in 0..<cards.count where cards.kind[card] == .welcome {
            if firstAnyOrder[Int(cards.user[card])] < cards.issuedAt[card] { returning += 1 } else { new += 1 }
        }
        customers = Customers(new: new, returning: returning)

        // Retention: by the day of a user's first delivered free order, whether they ordered again.
        var firstFree = [Int64](repeating: .max, count: users)
        for index in delivered { firstFree[Int(orders.user[index])] = min(firstFree[Int(orders.user[index])], orders.placedAt[index]) }
        var again = [UInt8](repeating: 0, count: users)  // bit 0: the next day, bit 1: within seven days
        for (user, at) in zip(reading.anyOrderUser, reading.anyOrderAt) where firstFree[Int(user)] != .max {
            let later = Self.cityDay(at) - Self.cityDay(firstFree[Int(user)])
            if later == 1 { again[Int(user)] |= 1 }
            if (1...7).contains(later) { again[Int(user)] |= 2 }
        }
        var cohorts: [Int: (users: Int, day1: Int, day7: Int)] = [:]
        for user in 0..<users where firstFree[user] != .max {
            let day = Self.cityDay(firstFree[user])
            var cohort = cohorts[day] ?? (0, 0, 0)
            cohort.users += 1
            if again[user] & 1 != 0 { cohort.day1 += 1 }
            if again[user] & 2 != 0 { cohort.day7 += 1 }
            cohorts[day] = cohort
        }
        retention = cohorts.keys.sorted().map { day in
            let cohort = cohorts[day]!
            return RetentionCohort(day: Self.dayName(day), users: cohort.users, day1: cohort.day1, day7: cohort.day7)
        }

        // Counted by cell and by store and drink number first: names are made for the rows shown.
        let storesByID = Dictionary(stores.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let districts = Gazetteer.places.filter { $0.kind == .district }
        var byCell: [DeliveryCell: Int] = [:]
        var byMerchant = [Int](repeating: 0, count: reading.merchants.count)
        var byDrink = [Int](repeating: 0, count: reading.drinks.count)
        var hours = Array(repeating: 0, count: 24)
        for index in cardOrders {
            byCell[orders.cell[index], default: 0] += 1
            byMerchant[Int(orders.merchant[index])] += 1
            for item in Int(orders.itemStart[index])..<Int(orders.itemStart[index + 1]) {
                byDrink[Int(orders.itemDrink[item])] += Int(orders.itemQuantity[item])
            }
            hours[Self.cityHour(orders.placedAt[index])] += 1
        }
        var byDistrict: [String: Int] = [:]
        for (key, count) in byCell {
            let centre = GeoPoint(lat: key.centre.lat, lng: key.centre.lng)
            if let district = districts.min(by: { $0.point.distance(to: centre) < $1.point.distance(to: centre) }) {
                byDistrict[district.english, default: 0] += count
            }
        }
        var byStore: [String: Int] = [:]
        var byBrand: [String: Int] = [:]
        for (merchant, count) in zip(reading.merchants.names, byMerchant) where count > 0 {
            let store = storesByID[merchant]
            byStore[store.map { "\($0.id) \($0.name)" } ?? merchant, default: 0] += count
            byBrand[store?.brand ?? "unknown", default: 0] += count
        }
        breakdowns = Breakdowns(
            districts: Self.top(byDistrict.map { ($0.key, $0.value) }), cells: Self.top(byCell.map { (Self.cellName($0.key), $0.value) }),
            stores: Self.top(byStore.map { ($0.key, $0.value) }), brands: Self.top(byBrand.map { ($0.key, $0.value) }),
            drinks: Self.top(zip(reading.drinks.names, byDrink).filter { $0.1 > 0 }.map { ($0.0, $0.1) }), hours: hours)

        let late = delivered.map { Double(orders.updatedAt[$0] - orders.promisedAt[$0]) / 1_000 }
        lateness = Lateness(
            delivered: late.count, onTime: late.count { $0 <= 0 }, p50Seconds: Self.percentile(late, 0.5),
            p90Seconds: Self.percentile(late, 0.9))

        let holders = (0..<cards.count).filter { cards.kind[$0] == .welcome }.map { cards.user[$0] }
        self.experiments = experiments.filter { $0.campaign == definition.id }.map { experiment in
            ExperimentResult(
                experiment, holders: holders, orders: cardOrders, in: orders,
                hash: { assignment(experiment.id, reading.users.name(Int($0))) })
        }
    }

    /// The value at `fraction` of the sorted values (nearest rank); nil for none.
    static func percentile(_ values: [Double], _ fraction: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(sorted.count - 1, max(0, rank))]
    }

    /// The busiest `limit` keys, ties by name.
    static func top(_ counts: [(String, Int)], limit: Int = rowsPerBreakdown) -> [Count] {
        counts.sorted { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }.prefix(limit).map { Count(key: $0.0, count: $0.1) }
    }

    /// The corner of a cell ("lat,lng"), so an export never holds an address.
    static func cellName(_ cell: DeliveryCell) -> String {
        String(format: "%.4f,%.4f", cell.corner.lat, cell.corner.lng)
    }

    /// Days since 1970 in Shanghai time.
    static func cityDay(_ ms: Int64) -> Int {
        Int(((ms / 1_000) + Int64(cityOffsetSeconds)).quotientRoundingDown(by: 86_400))
    }

    /// The hour of the day in Shanghai time.
    static func cityHour(_ ms: Int64) -> Int {
        Int(((ms / 1_000) + Int64(cityOffsetSeconds)).remainderRoundingDown(by: 86_400) / 3_600)
    }

    /// A day since 1970 as `YYYY-MM-DD`.
    static func dayName(_ day: Int) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: Date(timeIntervalSince1970: Double(day) * 86_400))
    }
}

extension Int64 {
    fileprivate func quotientRoundingDown(by divisor: Int64) -> Int64 {
        self >= 0 ? self / divisor : -((-self + divisor - 1) / divisor)
    }

    fileprivate func remainderRoundingDown(by divisor: Int64) -> Int64 {
        self - quotientRoundingDown(by: divisor) * divisor
    }
}

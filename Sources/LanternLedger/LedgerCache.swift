import Foundation

/// A campaign as the shared database holds it: its definition and its budget accounting, the
/// value inside every node's budget lease included.
public struct CampaignSnapshot: Sendable, Equatable {
    /// The definition.
    public var campaign: Campaign
    /// Budget not on any card: unleased, plus leased but not yet issued.
    public var remainingFen: Int64
    /// Value reserved by active cards.
    public var outstandingFen: Int64
    /// Value paid out on orders.
    public var spentFen: Int64
    /// Cards issued, by every node.
    public var cardsIssued: Int
    /// When the cards expired, once they have.
    public var cardsExpiredAt: Date?
    /// Of `remainingFen`, what this node's lease does not hold.
    public var budgetElsewhereFen: Int64

    /// Creates a snapshot.
    public init(
        campaign: Campaign, remainingFen: Int64, outstandingFen: Int64, spentFen: Int64, cardsIssued: Int,
        cardsExpiredAt: Date?, budgetElsewhereFen: Int64
    ) {
        self.campaign = campaign
        self.remainingFen = remainingFen
        self.outstandingFen = outstandingFen
        self.spentFen = spentFen
        self.cardsIssued = cardsIssued
        self.cardsExpiredAt = cardsExpiredAt
        self.budgetElsewhereFen = budgetElsewhereFen
    }
}

/// A card as the database holds it: the facts of its issue and the state it is in now.
public struct StoredCard: Sendable, Equatable {
    /// How it was issued.
    public var issue: CardIssue
    /// Where it is in its life.
    public var state: CardState

    /// Creates a stored card.
    public init(issue: CardIssue, state: CardState) {
        self.issue = issue
        self.state = state
    }

    /// The card as the API shows it, in `campaign`.
    public func card(in campaign: Campaign) -> Card { entry.card(campaign: campaign, owner: issue.owner, ordinal: issue.ordinal) }

    /// The card as the book keeps it.
    var entry: CardEntry { CardEntry(kind: issue.kind, valueFen: issue.valueFen, issuedAtMs: issue.issuedAtMs, state: state) }
}

/// Everything the database holds for one user: their cards in every campaign and their orders.
public struct UserRecords: Sendable {
    /// The user.
    public var user: String
    /// Their cards, any campaign, any order.
    public var cards: [StoredCard]
    /// Their orders in their current state.
    public var orders: [Order]

    /// Creates a user's records.
    public init(user: String, cards: [StoredCard], orders: [Order]) {
        self.user = user
        self.cards = cards
        self.orders = orders
    }
}

/// The ledger as a bounded cache of a shared database (PostgreSQL with one or many nodes).
///
/// The database is the truth: it refuses a card another node already issued, and each node
/// issues only against its own budget lease (`allowanceFen`). The book keeps the campaigns with
/// their accounting as last read, the users it has met (loaded by key or decided here), and the
/// orders placed here; it forgets users when it outgrows its bound, and a forgotten user is
/// simply asked of the database again.
extension LedgerBook {
    /// A cache over the database's campaigns and the live orders this node looks after.
    public static func cache(of campaigns: [CampaignSnapshot], allowances: [String: Int64], orders: [Order]) -> LedgerBook {
        var book = LedgerBook()
        book.isCache = true
        for snapshot in campaigns { book.restore(snapshot) }
        for (campaign, fen) in allowances { book.grantAllowance(fen, campaign: campaign) }
        for order in orders { book.cacheOrder(order) }
        return book
    }

    /// Takes in a campaign's definition and accounting as the database has them now; a
    /// campaign another node created appears, with no allowance of this node's yet. A snapshot
    /// read before this node's own expiry or extension committed is older than the book and
    /// changes nothing: dates only move forward and expired cards stay expired.
    public mutating func restore(_ snapshot: CampaignSnapshot) {
        let index: Int
        if let known = accountIndex[snapshot.campaign.id] {
            index = known
            let held = accounts[index].campaign
            // The database keeps microseconds; the book may hold the instant it was given.
            func notEarlier(_ stored: Date, _ held: Date) -> Bool { stored.timeIntervalSince(held) > -0.001 }
            guard notEarlier(snapshot.campaign.endsAt, held.endsAt), notEarlier(snapshot.campaign.cardsExpireAt, held.cardsExpireAt),
                snapshot.cardsExpiredAt != nil || accounts[index].cardsExpiredAt == nil
            else { return }
            accounts[index].campaign = snapshot.campaign
        } else {
            var account = CampaignAccount(campaign: snapshot.campaign)
            account.allowanceFen = 0
            index = open(account, reservingHolders: false)
        }
        if snapshot.cardsExpiredAt != nil, accounts[index].cardsExpiredAt == nil {
            holders[index] = holders[index].mapValues { holding in
                var holding = holding
                holding.updateEach { if $0.state == .active { $0.state = .expired } }
                return holding
            }
        }
        accounts[index].remainingFen = snapshot.remainingFen
        accounts[index].outstandingFen = snapshot.outstandingFen
        accounts[index].spentFen = snapshot.spentFen
        accounts[index].cardsIssued = snapshot.cardsIssued
        accounts[index].cardsExpiredAt = snapshot.cardsExpiredAt
        accounts[index].budgetElsewhereFen = snapshot.budgetElsewhereFen
    }

    /// Adds budget the database has leased to this node.
    public mutating func grantAllowance(_ fen: Int64, campaign: String) {
        guard let index = accountIndex[campaign] else { return }
        accounts[index].allowanceFen = (accounts[index].allowanceFen ?? 0) + fen
    }

    /// Takes this node's whole unused allowance back (to return it to the campaign).
    public mutating func takeAllowance(campaign: String) -> Int64 {
        guard let index = accountIndex[campaign], let fen = accounts[index].allowanceFen else { return 0 }
        accounts[index].allowanceFen = 0
        return fen
    }

    /// Whether the book holds everything the database had for `user` when last asked.
    public func isLoaded(_ user: String) -> Bool { loadedUsers.contains(user) }

    /// Takes in the database's records of a user the book has not loaded yet (or, `refreshing`,
    /// again). What this node decided itself is at least as new as what it read (a card issued
    /// or spent here while the records were on their way), so a holding it has stays unless the
    /// database has more cards: those another node issued.
    public mutating func cache(_ records: UserRecords, refreshing: Bool = false) {
        guard refreshing || !loadedUsers.contains(records.user) else { return }
        let byCampaign = Dictionary(grouping: records.cards, by: \.issue.campaign)
        for (campaign, cards) in byCampaign {
            guard let index = accountIndex[campaign] else { continue }
            if let held = holders[index][records.user], held.count >= cards.count { continue }
            let sorted = cards.sorted { $0.issue.ordinal < $1.issue.ordinal }
            guard let welcome = sorted.first, welcome.issue.ordinal == 0 else { continue }
            holders[index][records.user] = Holding(
                first: welcome.entry, more: sorted.dropFirst().map(\.entry), claim: welcome.issue.claim, batch: 0,
                referralBonus: welcome.issue.counterpart != nil)
        }
        for order in records.orders where orders[order.id] == nil { cacheOrder(order) }
        loadedUsers.insert(records.user)
    }

    /// Undoes a card this node decided and the database refused (another node issued it, or
    /// the user holds one already); both users it touched are forgotten, to be asked again.
    public mutating func revert(_ issue: CardIssue) {
        guard let index = accountIndex[issue.campaign] else { return }
        if let holding = holders[index][issue.owner], holding.count == issue.ordinal + 1 {
            accounts[index].remainingFen += issue.valueFen
            accounts[index].outstandingFen -= issue.valueFen
            accounts[index].cardsIssued -= 1
            accounts[index].issuedHereFen -= issue.valueFen
            if let allowance = accounts[index].allowanceFen { accounts[index].allowanceFen = allowance + issue.valueFen }
        }
        forget(issue.owner)
        if let counterpart = issue.counterpart { forget(counterpart) }
    }

    /// Forgets a user in every campaign (their cards stay in the database).
    private mutating func forget(_ user: String) {
        for index in holders.indices { holders[index][user] = nil }
        loadedUsers.remove(user)
    }

    /// Users with cards held in memory, over every campaign.
    public var cachedHolders: Int { holders.reduce(0) { $0 + $1.count } }

    /// Forgets users until at most `limit` holdings are cached, and final orders until at most
    /// `orderLimit` orders are; returns how many users were forgotten.
    @discardableResult
    public mutating func trim(holdersTo limit: Int, ordersTo orderLimit: Int) -> Int {
        var excess = cachedHolders - limit
        var forgotten = 0
        if excess > 0 {
            // Dropping a tenth more than needed keeps trims rare while the crowd keeps coming.
            excess += limit / 10
            for index in holders.indices where excess > 0 {
                let victims = holders[index].keys.prefix(excess)
                for user in Array(victims) {
                    holders[index][user] = nil
                    loadedUsers.remove(user)
                    excess -= 1
                    forgotten += 1
                }
            }
        }
        if orders.count > orderLimit {
            let finished = orders.values.filter { $0.state.isFinal }.prefix(orders.count - orderLimit).map(\.id)
            for id in finished { forgetOrder(id) }
        }
        return forgotten
    }

    /// Takes in an order as the database holds it, replacing what the book had of it.
    public mutating func cacheOrder(_ order: Order) {
        if let known = orders[order.id] {
            if known.state.isUnmade && !order.state.isUnmade { unmadeCups[known.draft.merchantID, default: 0] -= known.cups }
            if !known.state.isUnmade && order.state.isUnmade { unmadeCups[known.draft.merchantID, default: 0] += known.cups }
            ordersByState[known.state, default: 0] -= 1
            ordersByState[order.state, default: 0] += 1
            orders[order.id] = order
            return
        }
        orders[order.id] = order
        orderBatches[order.id] = 0
        orderKeys[IdempotencyIndex(user: order.draft.user, key: order.draft.idempotency.key)] = order.id
        ordersByUser[order.draft.user, default: []].append(order.id)
        ordersByMerchant[order.draft.merchantID, default: []].append(order.id)
        if order.state.isUnmade { unmadeCups[order.draft.merchantID, default: 0] += order.cups }
        ordersByState[order.state, default: 0] += 1
    }

    /// Applies another node's change to an order this book holds; returns the order as changed,
    /// or nil when the book does not hold it or already saw the change.
    public mutating func cacheChange(_ change: OrderChange) -> Order? {
        guard var order = orders[change.orderID], order.state != change.state, order.state.canMove(to: change.state)
        else { return nil }
        order.state = change.state
        order.updatedAtMs = change.atMs
        order.settlement = change.settlement
        cacheOrder(order)
        return order
    }

    private mutating func forgetOrder(_ id: String) {
        guard let order = orders.removeValue(forKey: id) else { return }
        orderBatches[id] = nil
        orderKeys[IdempotencyIndex(user: order.draft.user, key: order.draft.idempotency.key)] = nil
        ordersByUser[order.draft.user]?.removeAll { $0 == id }
        ordersByMerchant[order.draft.merchantID]?.removeAll { $0 == id }
        if order.state.isUnmade { unmadeCups[order.draft.merchantID, default: 0] -= order.cups }
        ordersByState[order.state, default: 0] -= 1
    }
}

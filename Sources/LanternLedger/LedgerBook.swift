import Foundation

/// A user's request for their welcome card.
public struct ClaimRequest: Sendable {
    /// Campaign to claim from.
    public var campaign: String
    /// The authenticated claimant.
    public var user: String
    /// Another user's id, if somebody referred the claimant.
    public var referralCode: String?
    /// The claim's idempotency key and body digest.
    public var claimKey: ClaimKey

    /// Creates a claim request.
    public init(campaign: String, user: String, referralCode: String?, claimKey: ClaimKey) {
        self.campaign = campaign
        self.user = user
        self.referralCode = referralCode
        self.claimKey = claimKey
    }
}

/// What a claim came to.
public enum ClaimOutcome: Sendable, Equatable {
    /// A welcome card was issued; `referralBonus` tells whether the referrer got a bonus card.
    case issued(Card, referralBonus: Bool)
    /// The claim was refused and nothing changed.
    case refused(LedgerError)
}

/// The ledger's answer to a claim, before anything is durable.
public enum ClaimDecision: Sendable, Equatable {
    /// The idempotency key was seen before with the same body: this is the original outcome,
    /// recorded in commit batch `batch` (0 when nothing was written).
    case replay(ClaimOutcome, batch: UInt64)
    /// A fresh decision; the events it appended must be durable before it is acknowledged.
    case decided(ClaimOutcome)
}

/// A journal that breaks a ledger rule: found by replay, reported by `lantern audit`.
public struct LedgerViolation: Error, Sendable, CustomStringConvertible {
    /// What rule was broken, and where.
    public var description: String
}

/// The live state of one campaign: its definition and budget accounting.
///
/// A plain value that is cheap to hand out of the ledger's lock: the card holders live in the
/// book beside it (`LedgerBook.holders`), so a copy held by a reader (the dashboard, the
/// history sampler) never shares the holder table that the next claim writes to, which would
/// make that claim copy the whole table under the lock.
public struct CampaignAccount: Sendable {
    /// The campaign definition.
    public internal(set) var campaign: Campaign
    /// Budget not yet committed to any card.
    public internal(set) var remainingFen: Int64
    /// Value reserved by active cards.
    public internal(set) var outstandingFen: Int64
    /// Value paid out on orders.
    public internal(set) var spentFen: Int64
    /// Cards issued so far, in any state.
    public internal(set) var cardsIssued: Int
    /// When the cards expired, once they have.
    public internal(set) var cardsExpiredAt: Date?
    /// Budget this node may still issue from, when several nodes share the campaign through
    /// budget leases; nil on a single node, where the whole remaining budget is its own.
    public internal(set) var allowanceFen: Int64?
    /// Budget not yet on cards that is held by the campaign or by other nodes' leases (shared
    /// mode): a claim this node cannot cover is told to retry rather than that the budget is gone.
    public internal(set) var budgetElsewhereFen: Int64 = 0
    /// Value of the cards this node decided, ever: the lease keeper reads its claim rate from it.
    public internal(set) var issuedHereFen: Int64 = 0

    init(campaign: Campaign) {
        self.campaign = campaign
        self.remainingFen = campaign.budgetFen
        self.outstandingFen = 0
        self.spentFen = 0
        self.cardsIssued = 0
        self.cardsExpiredAt = nil
    }

    /// What this node may issue: its lease allowance when it shares the campaign, else the remaining budget.
    var available: Int64 { allowanceFen ?? remainingFen }

    /// Every way this account and its holders break the ledger's invariants (empty when healthy).
    func invariantViolations(holders: [String: Holding]) -> [String] {
        var problems: [String] = []
        let id = campaign.id
        if remainingFen + outstandingFen + spentFen != campaign.budgetFen {
            problems.append(
                "\(id): remaining \(remainingFen) + outstanding \(outstandingFen) + spent \(spentFen) != budget \(campaign.budgetFen)"
            )
        }
        if remainingFen < 0 { problems.append("\(id): remaining budget is negative (\(remainingFen))") }
        var active: Int64 = 0
        var issued = 0
        for (owner, holding) in holders {
            if holding.count > campaign.maxCardsPerUser {
                problems.append("\(id): user \(owner) holds \(holding.count) cards, cap is \(campaign.maxCardsPerUser)")
            }
            if holding.first.kind != .welcome || holding.more.contains(where: { $0.kind == .welcome }) {
                problems.append("\(id): user \(owner) does not hold exactly one welcome card, first")
            }
            issued += holding.count
            for entry in holding.entries where entry.state == .active { active += entry.valueFen }
        }
        if active != outstandingFen {
            problems.append("\(id): active cards are worth \(active) but outstanding is \(outstandingFen)")
        }
        if issued != cardsIssued { problems.append("\(id): \(issued) cards held but \(cardsIssued) counted") }
        return problems
    }

    /// Every card of `owner` among `holders`, oldest first.
    func cards(of owner: String, holders: [String: Holding]) -> [Card] {
        guard let holding = holders[owner] else { return [] }
        return holding.entries.enumerated().map { $1.card(campaign: campaign, owner: owner, ordinal: $0) }
    }
}

/// One card as the ledger stores it; the owner and ordinal are where it is kept.
struct CardEntry: Sendable {
    var kind: CardKind
    var valueFen: Int64
    var issuedAtMs: Int64
    var state: CardState

    func card(campaign: Campaign, owner: String, ordinal: Int) -> Card {
        Card(
            campaign: campaign.id, owner: owner, ordinal: ordinal, kind: kind, valueFen: valueFen,
            issuedAt: Date(millisecondsSince1970: issuedAtMs), expiresAt: campaign.cardsExpireAt, state: state)
    }
}

/// A user's cards in one campaign, with the welcome claim that started them. The welcome
/// card is stored inline: most users hold only it, so they cost no extra allocation.
struct Holding: Sendable {
    /// The welcome card, ordinal 0.
    var first: CardEntry
    /// Referral bonus cards, ordinals 1, 2, …
    var more: [CardEntry] = []
    /// The welcome claim's idempotency key and body digest, for replays.
    var claim: ClaimKey?
    /// Commit batch of the welcome claim.
    var batch: UInt64
    /// Whether the welcome claim gave its referrer a bonus card.
    var referralBonus: Bool

    var count: Int { 1 + more.count }
    var entries: [CardEntry] { [first] + more }

    mutating func updateEach(_ change: (inout CardEntry) -> Void) {
        change(&first)
        for index in more.indices { change(&more[index]) }
    }
}

/// The whole campaign ledger in memory: decides claims, applies journal events, answers queries.
///
/// Pure and synchronous; the storage layer makes its events durable and keeps it behind a lock.
/// The claim path touches each map once: campaigns are found by index, a user's welcome claim
/// (and so its idempotency key) lives in their holding, and only refused claims need a map of
/// their own.
public struct LedgerBook: Sendable {
    struct IdempotencyIndex: Hashable {
        var user: String
        var key: String
    }

    struct Refusal {
        var digest: BodyDigest
        var error: LedgerError
    }

    /// Refused claims remembered for replay at most; past this, refusals are decided afresh.
    public static let maxRememberedRefusals = 1_000_000

    var accounts: [CampaignAccount] = []
    /// Each campaign's card holders by user, at the campaign's index in `accounts`.
    var holders: [[String: Holding]] = []
    var accountIndex: [String: Int] = [:]
    var refusals: [IdempotencyIndex: Refusal] = [:]
    var orders: [String: Order] = [:]
    var orderBatches: [String: UInt64] = [:]
    var orderKeys: [IdempotencyIndex: String] = [:]
    var ordersByUser: [String: [String]] = [:]
    var ordersByMerchant: [String: [String]] = [:]
    var unmadeCups: [String: Int] = [:]
    /// Orders the book holds by state, kept as they change so that counting them is not a pass
    /// over every order under the ledger's lock.
    var ordersByState: [OrderState: Int] = [:]
    /// Users whose database records the cache holds whole (shared mode only).
    var loadedUsers: Set<String> = []
    /// Whether this book caches a shared database instead of holding the whole ledger.
    public internal(set) var isCache = false

    /// An empty ledger.
    public init() {}

    /// Rebuilds a ledger by applying journal records in order; throws on the first broken rule.
    public static func replaying(_ batches: some Sequence<(batch: UInt64, events: [LedgerEvent])>) throws(LedgerViolation)
        -> LedgerBook
    {
        var book = LedgerBook()
        for (batch, events) in batches {
            for event in events { try book.apply(event, batch: batch) }
        }
        return book
    }

    /// The campaign with that id, with its live accounting.
    public func account(_ id: String) -> CampaignAccount? { accountIndex[id].map { accounts[$0] } }

    /// Adds a campaign's account and an empty holder table for it; returns its index.
    @discardableResult
    mutating func open(_ account: CampaignAccount, reservingHolders: Bool) -> Int {
        let index = accounts.count
        accountIndex[account.campaign.id] = index
        accounts.append(account)
        var table: [String: Holding] = [:]
        // A flash crowd fills this table in minutes; growing it step by step rehashes every
        // holder at each doubling under the ledger's lock. The budget bounds how many holders
        // there can be, and that (up to a cap) is reserved. Hashing spreads the first holders
        // over the whole table, so its memory is resident after the first few tens of thousands
        // of claims (about 120 MB at the cap), not in proportion to the holders.
        // A shared node's cache is bounded by its own limit instead, and grows as it fills.
        if reservingHolders {
            let possibleHolders = account.campaign.budgetFen / max(account.campaign.cardValueFen, 1)
            table.reserveCapacity(Int(min(possibleHolders, Self.reservedHolders)))
        }
        holders.append(table)
        return index
    }

    /// Most card holders reserved for up front; a campaign that outgrows it grows as usual.
    static let reservedHolders: Int64 = 1_000_000

    /// Number of users holding at least one card in `campaign` (in a cache: held in memory).
    public func holderCount(of campaign: String) -> Int { accountIndex[campaign].map { holders[$0].count } ?? 0 }

    /// Every way `campaign`'s account breaks the ledger's invariants (empty when healthy).
    public func invariantViolations(of campaign: String) -> [String] {
        guard let index = accountIndex[campaign] else { return ["\(campaign): no such campaign"] }
        return accounts[index].invariantViolations(holders: holders[index])
    }

    /// Every card of `owner` in `campaign`, oldest first.
    public func cards(of owner: String, in campaign: String) -> [Card] {
        guard let index = accountIndex[campaign] else { return [] }
        return accounts[index].cards(of: owner, holders: holders[index])
    }

    /// Every campaign, in creation order.
    public var allAccounts: [CampaignAccount] { accounts }

    /// Every card `user` holds, across campaigns, oldest first within each campaign.
    public func cards(of user: String) -> [Card] {
        accounts.indices.flatMap { accounts[$0].cards(of: user, holders: holders[$0]) }
    }

    // MARK: Decisions

    /// Decides a claim. Applies it to this book at once (so the next claim sees it) and appends
    /// its events to `journal`; the caller makes them durable in commit batch `batch` before
    /// acknowledging.
    public mutating func claim(
        _ request: ClaimRequest, now: Date, batch: UInt64, appendingTo journal: inout [LedgerEvent]
    ) -> ClaimDecision {
        let index = accountIndex[request.campaign]
        if let index, let holding = holders[index][request.user], let claim = holding.claim,
            claim.key == request.claimKey.key
        {
            guard claim.digest == request.claimKey.digest else { return .decided(.refused(.idempotencyKeyReused)) }
            let card = holding.first.card(campaign: accounts[index].campaign, owner: request.user, ordinal: 0)
            return .replay(.issued(card, referralBonus: holding.referralBonus), batch: holding.batch)
        }
        let refusalIndex = IdempotencyIndex(user: request.user, key: request.claimKey.key)
        if !refusals.isEmpty, let refusal = refusals[refusalIndex] {
            guard refusal.digest == request.claimKey.digest else { return .decided(.refused(.idempotencyKeyReused)) }
            return .replay(.refused(refusal.error), batch: 0)
        }
        guard let index else { return refuse(.campaignNotFound(request.campaign), refusalIndex, request) }
        if let problem = claimProblem(request, account: index, now: now) {
            return refuse(problem, refusalIndex, request)
        }
        let campaign = accounts[index].campaign
        let value = campaign.cardValueFen
        var bonusTo: String?
        var bonusOrdinal = 0
        if let referrer = request.referralCode, let held = holders[index][referrer]?.count,
            held < campaign.maxCardsPerUser, accounts[index].available >= 2 * value
        {
            bonusTo = referrer
            bonusOrdinal = held
        }
        let nowMs = now.millisecondsSince1970
        let welcome = CardIssue(
            campaign: campaign.id, owner: request.user, ordinal: 0, kind: .welcome, valueFen: value,
            issuedAtMs: nowMs, claim: request.claimKey, counterpart: bonusTo)
        insert(welcome, into: index, batch: batch)
        journal.append(.cardIssued(welcome))
        if let bonusTo {
            let bonus = CardIssue(
                campaign: campaign.id, owner: bonusTo, ordinal: bonusOrdinal, kind: .referral, valueFen: value,
                issuedAtMs: nowMs, claim: nil, counterpart: request.user)
            insert(bonus, into: index, batch: batch)
            journal.append(.cardIssued(bonus))
        }
        let card = Card(
            campaign: campaign.id, owner: request.user, ordinal: 0, kind: .welcome, valueFen: value,
            issuedAt: Date(millisecondsSince1970: nowMs), expiresAt: campaign.cardsExpireAt, state: .active)
        return .decided(.issued(card, referralBonus: bonusTo != nil))
    }

    private func claimProblem(_ request: ClaimRequest, account index: Int, now: Date) -> LedgerError? {
        let campaign = accounts[index].campaign
        guard now >= campaign.startsAt, now < campaign.endsAt, accounts[index].cardsExpiredAt == nil else {
            return .campaignNotActive(campaign.id)
        }
        if request.referralCode == request.user { return .selfReferral }
        guard holders[index][request.user] == nil else { return .cardLimitReached }
        guard accounts[index].available >= campaign.cardValueFen else {
            let account = accounts[index]
            return account.allowanceFen != nil && account.budgetElsewhereFen >= campaign.cardValueFen
                ? .budgetHeldElsewhere : .budgetExhausted
        }
        return nil
    }

    private mutating func refuse(_ error: LedgerError, _ index: IdempotencyIndex, _ request: ClaimRequest)
        -> ClaimDecision
    {
        // A refusal that a retry may overcome (budget held by another node) is not remembered.
        if error != .budgetHeldElsewhere, refusals.count < Self.maxRememberedRefusals {
            refusals[index] = Refusal(digest: request.claimKey.digest, error: error)
        }
        return .decided(.refused(error))
    }

    /// Creates a campaign; returns the event to make durable.
    public mutating func createCampaign(_ campaign: Campaign) -> Result<[LedgerEvent], LedgerError> {
        if let problem = campaign.validationProblem() { return .failure(problem) }
        guard accountIndex[campaign.id] == nil else { return .failure(.campaignExists(campaign.id)) }
        let events = [LedgerEvent.campaignCreated(campaign)]
        applyDecided(events)
        return .success(events)
    }

    /// Extends a campaign's claim window or card expiry (never shortens them); returns the event.
    public mutating func extendCampaign(_ id: String, endsAt: Date?, cardsExpireAt: Date?) -> Result<
        [LedgerEvent], LedgerError
    > {
        guard let account = account(id) else { return .failure(.campaignNotFound(id)) }
        var updated = account.campaign
        if let endsAt {
            guard endsAt >= updated.endsAt else { return .failure(.invalidCampaign("ends_at can only be extended")) }
            updated.endsAt = endsAt
        }
        if let cardsExpireAt {
            guard cardsExpireAt >= updated.cardsExpireAt else {
                return .failure(.invalidCampaign("cards_expire_at can only be extended"))
            }
            guard account.cardsExpiredAt == nil || cardsExpireAt == updated.cardsExpireAt else {
                return .failure(.invalidCampaign("the cards have already expired"))
            }
            updated.cardsExpireAt = cardsExpireAt
        }
        if let problem = updated.validationProblem() { return .failure(problem) }
        let events = [LedgerEvent.campaignUpdated(updated)]
        applyDecided(events)
        return .success(events)
    }

    /// Expires the cards of every campaign whose expiry has passed; returns the events.
    public mutating func expireDue(now: Date) -> [LedgerEvent] {
        let due = accounts.filter { $0.cardsExpiredAt == nil && now >= $0.campaign.cardsExpireAt }
        let events = due.map { LedgerEvent.cardsExpired(campaign: $0.campaign.id, at: now) }
        applyDecided(events)
        return events
    }

    private mutating func applyDecided(_ events: [LedgerEvent]) {
        for event in events {
            do {
                try apply(event, batch: 0)
            } catch {
                preconditionFailure("ledger decided an event it cannot apply: \(error)")
            }
        }
    }

    // MARK: Applying events

    /// Applies one journal event, checking every rule; `batch` is the commit batch it belongs to.
    public mutating func apply(_ event: LedgerEvent, batch: UInt64) throws(LedgerViolation) {
        switch event {
        case .campaignCreated(let campaign):
            guard accountIndex[campaign.id] == nil else {
                throw LedgerViolation(description: "campaign \(campaign.id) created twice")
            }
            var account = CampaignAccount(campaign: campaign)
            // A node sharing the database issues only what its lease grants it.
            if isCache {
                account.allowanceFen = 0
                account.budgetElsewhereFen = campaign.budgetFen
            }
            open(account, reservingHolders: !isCache)
        case .campaignUpdated(let campaign):
            guard let index = accountIndex[campaign.id] else {
                throw LedgerViolation(description: "update of unknown campaign \(campaign.id)")
            }
            guard campaign.budgetFen == accounts[index].campaign.budgetFen,
                campaign.cardValueFen == accounts[index].campaign.cardValueFen
            else {
                throw LedgerViolation(description: "update of \(campaign.id) changes its budget or card value")
            }
            accounts[index].campaign = campaign
        case .cardIssued(let issue):
            let index = try checkIssue(issue)
            insert(issue, into: index, batch: batch)
        case .orderPlaced(let order):
            try checkPlacement(order)
            record(order, batch: batch)
        case .orderChanged(let change):
            try checkChange(change)
            recordChange(change)
        case .cardsExpired(let id, let at):
            guard let index = accountIndex[id] else {
                throw LedgerViolation(description: "expiry of unknown campaign \(id)")
            }
            holders[index] = holders[index].mapValues { holding in
                var holding = holding
                holding.updateEach { if $0.state == .active { $0.state = .expired } }
                return holding
            }
            accounts[index].remainingFen += accounts[index].outstandingFen
            accounts[index].outstandingFen = 0
            accounts[index].cardsExpiredAt = at
        }
    }

    /// Checks a journal card against every rule; returns its campaign's index.
    private func checkIssue(_ issue: CardIssue) throws(LedgerViolation) -> Int {
        let cardID = issue.cardID
        guard let index = accountIndex[issue.campaign] else {
            throw LedgerViolation(description: "card \(cardID) of unknown campaign")
        }
        let account = accounts[index]
        let held = holders[index][issue.owner]?.count ?? 0
        guard issue.ordinal == held else {
            throw LedgerViolation(description: "card \(cardID) issued out of order or twice (user held \(held))")
        }
        guard (issue.kind == .welcome) == (issue.ordinal == 0) else {
            throw LedgerViolation(description: "card \(cardID): only a user's first card is a welcome card")
        }
        guard held < account.campaign.maxCardsPerUser else {
            throw LedgerViolation(description: "card \(cardID) exceeds the per-user cap")
        }
        guard issue.valueFen == account.campaign.cardValueFen, account.remainingFen >= issue.valueFen else {
            throw LedgerViolation(description: "card \(cardID) overspends the budget or has the wrong value")
        }
        guard account.cardsExpiredAt == nil else {
            throw LedgerViolation(description: "card \(cardID) issued after the campaign's cards expired")
        }
        if issue.kind == .referral {
            guard let referee = issue.counterpart, referee != issue.owner, holders[index][referee] != nil else {
                throw LedgerViolation(description: "referral card \(cardID) has no valid new user behind it")
            }
        }
        return index
    }

    /// Records a card that has been decided or checked.
    mutating func insert(_ issue: CardIssue, into index: Int, batch: UInt64) {
        let entry = CardEntry(kind: issue.kind, valueFen: issue.valueFen, issuedAtMs: issue.issuedAtMs, state: .active)
        if issue.ordinal == 0 {
            holders[index][issue.owner] = Holding(
                first: entry, claim: issue.claim, batch: batch, referralBonus: issue.counterpart != nil)
        } else {
            holders[index][issue.owner]!.more.append(entry)
        }
        accounts[index].remainingFen -= issue.valueFen
        accounts[index].outstandingFen += issue.valueFen
        accounts[index].cardsIssued += 1
        accounts[index].issuedHereFen += issue.valueFen
        if let allowance = accounts[index].allowanceFen { accounts[index].allowanceFen = allowance - issue.valueFen }
    }
}

// MARK: - Orders

extension LedgerBook {
    /// The order with that id.
    public func order(_ id: String) -> Order? { orders[id] }

    /// Every order of `user`, newest first.
    public func orders(of user: String) -> [Order] {
        (ordersByUser[user] ?? []).reversed().compactMap { orders[$0] }
    }

    /// Every order for the store `merchantID`, oldest first.
    public func orders(atMerchant merchantID: String) -> [Order] {
        (ordersByMerchant[merchantID] ?? []).compactMap { orders[$0] }
    }

    /// Cups in the store's orders that are placed or accepted: its backlog.
    public func unmadeCups(atMerchant merchantID: String) -> Int { unmadeCups[merchantID] ?? 0 }

    /// Unmade cups by store, for the stores that have had orders (others have none).
    public var unmadeCupsByMerchant: [String: Int] { unmadeCups }

    /// How many orders the book holds in each state.
    public var orderCounts: [OrderState: Int] { ordersByState }

    /// Every order, in no particular order.
    public var allOrders: some Collection<Order> { orders.values }

    /// Erases the delivery address of every order held that ended before `ms` (as retention
    /// erased it in the store); returns how many it erased.
    @discardableResult
    public mutating func eraseAddresses(endedBeforeMs ms: Int64) -> Int {
        let due = orders.values.filter { $0.state.isFinal && $0.updatedAtMs < ms && !$0.draft.address.isErased }.map(\.id)
        for id in due {
            guard let address = orders[id]?.draft.address.erased else { continue }
            orders[id]?.draft.address = address
        }
        return due.count
    }

    /// Where a card id points: its campaign's index, owner and ordinal, if such a card exists.
    func locate(card id: String) -> (account: Int, owner: String, ordinal: Int)? {
        let parts = id.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let index = accountIndex[String(parts[0])], let ordinal = Int(parts[2]), ordinal >= 0
        else { return nil }
        let owner = String(parts[1])
        guard let holding = holders[index][owner], ordinal < holding.count else { return nil }
        return (index, owner, ordinal)
    }

    func entry(_ place: (account: Int, owner: String, ordinal: Int)) -> CardEntry {
        let holding = holders[place.account][place.owner]!
        return place.ordinal == 0 ? holding.first : holding.more[place.ordinal - 1]
    }

    mutating func setState(
        _ state: CardState, of place: (account: Int, owner: String, ordinal: Int)
    ) {
        if place.ordinal == 0 {
            holders[place.account][place.owner]!.first.state = state
        } else {
            holders[place.account][place.owner]!.more[place.ordinal - 1].state = state
        }
    }

    /// What `cardID` would take off an order costing `amountFen`, if `user` may pay with it now.
    public func cardDiscount(cardID: String, user: String, amountFen: Int64, now: Date) -> Result<Int64, LedgerError> {
        guard let place = locate(card: cardID), place.owner == user else { return .failure(.cardNotFound(cardID)) }
        let account = accounts[place.account]
        let card = entry(place)
        switch card.state {
        case .active: break
        case .redeemed: return .failure(.cardNotUsable("card '\(cardID)' has already paid for an order"))
        case .expired: return .failure(.cardNotUsable("card '\(cardID)' has expired"))
        case .voided: return .failure(.cardNotUsable("card '\(cardID)' was voided"))
        }
        guard account.cardsExpiredAt == nil, now < account.campaign.cardsExpireAt else {
            return .failure(.cardNotUsable("card '\(cardID)' has expired"))
        }
        return .success(CardDiscount.discount(cardValueFen: card.valueFen, subtotalFen: amountFen, deliveryFeeFen: 0))
    }

    /// Places an order, redeeming its card in the same decision: the discount is spent and the
    /// rest of the card's value released to the budget. Applies it at once and appends its
    /// event to `journal`; the caller makes it durable in batch `batch` before acknowledging.
    public mutating func placeOrder(
        _ draft: OrderDraft, now: Date, batch: UInt64, appendingTo journal: inout [LedgerEvent]
    ) -> OrderDecision {
        let keyIndex = IdempotencyIndex(user: draft.user, key: draft.idempotency.key)
        if let existing = orderKeys[keyIndex], let order = orders[existing] {
            guard order.draft.idempotency.digest == draft.idempotency.digest else {
                return .decided(.failure(.idempotencyKeyReused))
            }
            return .replay(order, batch: orderBatches[existing] ?? 0)
        }
        guard orders[draft.id] == nil else { return .decided(.failure(.invalidCampaign("order id '\(draft.id)' is taken"))) }
        var discount: Int64 = 0
        if let cardID = draft.cardID {
            switch cardDiscount(cardID: cardID, user: draft.user, amountFen: draft.subtotalFen + draft.deliveryFeeFen, now: now) {
            case .success(let value): discount = value
            case .failure(let error): return .decided(.failure(error))
            }
        }
        let order = Order(draft: draft, discountFen: discount, placedAtMs: now.millisecondsSince1970)
        record(order, batch: batch)
        journal.append(.orderPlaced(order))
        return .decided(.success(order))
    }

    /// Moves an order to `state` if `actor` may and the state machine allows; asking for the
    /// state it is already in changes nothing (so two racing cancels settle the card once).
    /// A rejection or cancellation returns the card to its owner while its campaign's cards
    /// are still valid and the value released at redemption is still unclaimed; otherwise the
    /// card is voided and what it paid goes back to the budget.
    public mutating func changeOrder(
        _ id: String, to state: OrderState, by actor: OrderActor, now: Date, appendingTo journal: inout [LedgerEvent]
    ) -> Result<Order, LedgerError> {
        guard let order = orders[id] else { return .failure(.orderNotFound(id)) }
        let allowed: Set<OrderState>
        switch actor {
        case .user(let user):
            guard user == order.draft.user else { return .failure(.orderNotFound(id)) }
            allowed = [.cancelled]
        case .merchant(let merchant):
            guard merchant == order.draft.merchantID else { return .failure(.orderNotFound(id)) }
            allowed = [.accepted, .ready, .rejected]
        case .operations:
            allowed = [.pickedUp, .delivered]
        }
        if order.state == state { return .success(order) }
        guard allowed.contains(state), order.state.canMove(to: state) else {
            return .failure(.illegalTransition(from: order.state.rawValue, to: state.rawValue))
        }
        var settlement: CardSettlement?
        if state == .rejected || state == .cancelled, let cardID = order.draft.cardID, let place = locate(card: cardID) {
            let account = accounts[place.account]
            let released = entry(place).valueFen - order.discountFen
            let valid = account.cardsExpiredAt == nil && now < account.campaign.cardsExpireAt
            settlement = valid && account.remainingFen >= released ? .returned : .released
        }
        let change = OrderChange(orderID: id, state: state, atMs: now.millisecondsSince1970, settlement: settlement)
        recordChange(change)
        journal.append(.orderChanged(change))
        return .success(orders[id]!)
    }

    private func checkPlacement(_ order: Order) throws(LedgerViolation) {
        guard orders[order.id] == nil else { throw LedgerViolation(description: "order \(order.id) placed twice") }
        guard order.discountFen >= 0, order.totalFen >= 0, order.state == .placed else {
            throw LedgerViolation(description: "order \(order.id) has a negative discount or total")
        }
        guard let cardID = order.draft.cardID else {
            guard order.discountFen == 0 else { throw LedgerViolation(description: "order \(order.id) discounted without a card") }
            return
        }
        guard let place = locate(card: cardID), place.owner == order.draft.user else {
            throw LedgerViolation(description: "order \(order.id) paid with card \(cardID) its user does not hold")
        }
        let card = entry(place)
        guard card.state == .active else {
            throw LedgerViolation(description: "order \(order.id) paid with card \(cardID), which is \(card.state.rawValue)")
        }
        guard order.discountFen == CardDiscount.discount(
            cardValueFen: card.valueFen, subtotalFen: order.subtotalFen, deliveryFeeFen: order.draft.deliveryFeeFen)
        else {
            throw LedgerViolation(description: "order \(order.id) took a discount its card does not give")
        }
    }

    private func checkChange(_ change: OrderChange) throws(LedgerViolation) {
        guard let order = orders[change.orderID] else {
            throw LedgerViolation(description: "change of unknown order \(change.orderID)")
        }
        guard order.state.canMove(to: change.state) else {
            throw LedgerViolation(description: "order \(order.id) moved from \(order.state.rawValue) to \(change.state.rawValue)")
        }
        let settles = (change.state == .rejected || change.state == .cancelled) && order.draft.cardID != nil
        guard settles == (change.settlement != nil) else {
            throw LedgerViolation(description: "order \(order.id): card settlement does not match its change")
        }
        if change.settlement == .returned, let cardID = order.draft.cardID, let place = locate(card: cardID) {
            let account = accounts[place.account]
            guard account.cardsExpiredAt == nil, account.remainingFen >= entry(place).valueFen - order.discountFen else {
                throw LedgerViolation(description: "order \(order.id) returned a card its campaign can no longer back")
            }
        }
    }

    /// Records a placed order and redeems its card.
    mutating func record(_ order: Order, batch: UInt64) {
        orders[order.id] = order
        orderBatches[order.id] = batch
        orderKeys[IdempotencyIndex(user: order.draft.user, key: order.draft.idempotency.key)] = order.id
        ordersByUser[order.draft.user, default: []].append(order.id)
        ordersByMerchant[order.draft.merchantID, default: []].append(order.id)
        unmadeCups[order.draft.merchantID, default: 0] += order.cups
        ordersByState[order.state, default: 0] += 1
        guard let cardID = order.draft.cardID, let place = locate(card: cardID) else { return }
        let value = entry(place).valueFen
        setState(.redeemed, of: place)
        accounts[place.account].outstandingFen -= value
        accounts[place.account].spentFen += order.discountFen
        accounts[place.account].remainingFen += value - order.discountFen
    }

    /// Records a state change and settles the card of a rejected or cancelled order.
    mutating func recordChange(_ change: OrderChange) {
        let before = orders[change.orderID]!
        if before.state.isUnmade && !change.state.isUnmade { unmadeCups[before.draft.merchantID, default: 0] -= before.cups }
        ordersByState[before.state, default: 0] -= 1
        ordersByState[change.state, default: 0] += 1
        orders[change.orderID]!.state = change.state
        orders[change.orderID]!.updatedAtMs = change.atMs
        orders[change.orderID]!.settlement = change.settlement
        let order = orders[change.orderID]!
        guard let settlement = change.settlement, let cardID = order.draft.cardID, let place = locate(card: cardID)
        else { return }
        let value = entry(place).valueFen
        accounts[place.account].spentFen -= order.discountFen
        switch settlement {
        case .returned:
            setState(.active, of: place)
            accounts[place.account].remainingFen -= value - order.discountFen
            accounts[place.account].outstandingFen += value
        case .released:
            setState(.voided, of: place)
            accounts[place.account].remainingFen += order.discountFen
        }
    }

    /// Every way the orders break the ledger's rules: each campaign's spent budget must equal
    /// what the cards of its unsettled orders paid, and each redeemed card must pay for exactly
    /// one such order.
    public func orderViolations() -> [String] {
        var problems: [String] = []
        var paid: [String: Int64] = [:]
        var payingOrders: [String: Int] = [:]
        for order in orders.values where order.settlement == nil {
            guard let cardID = order.draft.cardID, let place = locate(card: cardID) else { continue }
            paid[accounts[place.account].campaign.id, default: 0] += order.discountFen
            payingOrders[cardID, default: 0] += 1
        }
        for account in accounts where account.spentFen != paid[account.campaign.id, default: 0] {
            problems.append(
                "\(account.campaign.id): spent \(account.spentFen) but its cards paid \(paid[account.campaign.id, default: 0]) on orders")
        }
        for (cardID, count) in payingOrders where count > 1 {
            problems.append("card \(cardID) pays for \(count) orders")
        }
        return problems
    }
}

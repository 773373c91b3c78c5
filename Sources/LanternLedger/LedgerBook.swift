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
public enum ClaimDecision: Sendable {
    /// The idempotency key was seen before with the same body: this is the original outcome,
    /// recorded in commit batch `batch` (0 when nothing was written).
    case replay(ClaimOutcome, batch: UInt64)
    /// A fresh decision; `events` must be made durable before the outcome is acknowledged.
    case decided(ClaimOutcome, events: [LedgerEvent])
}

/// A journal that breaks a ledger rule: found by replay, reported by `lantern audit`.
public struct LedgerViolation: Error, Sendable, CustomStringConvertible {
    /// What rule was broken, and where.
    public var description: String
}

/// The live state of one campaign: its definition, budget accounting and card holders.
public struct CampaignAccount: Sendable {
    /// The campaign definition.
    public fileprivate(set) var campaign: Campaign
    /// Budget not yet committed to any card.
    public fileprivate(set) var remainingFen: Int64
    /// Value reserved by active cards.
    public fileprivate(set) var outstandingFen: Int64
    /// Value paid out on orders.
    public fileprivate(set) var spentFen: Int64
    /// Cards issued so far, in any state.
    public fileprivate(set) var cardsIssued: Int
    /// When the cards expired, once they have.
    public fileprivate(set) var cardsExpiredAt: Date?
    fileprivate var holders: [String: [CardEntry]]

    fileprivate init(campaign: Campaign) {
        self.campaign = campaign
        self.remainingFen = campaign.budgetFen
        self.outstandingFen = 0
        self.spentFen = 0
        self.cardsIssued = 0
        self.cardsExpiredAt = nil
        self.holders = [:]
    }

    /// Number of users holding at least one card.
    public var holderCount: Int { holders.count }

    /// Every way this account breaks the ledger's invariants (empty when healthy).
    public func invariantViolations() -> [String] {
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
        for (owner, entries) in holders {
            if entries.count > campaign.maxCardsPerUser {
                problems.append("\(id): user \(owner) holds \(entries.count) cards, cap is \(campaign.maxCardsPerUser)")
            }
            if entries.filter({ $0.kind == .welcome }).count > 1 {
                problems.append("\(id): user \(owner) holds more than one welcome card")
            }
            issued += entries.count
            for entry in entries where entry.state == .active { active += entry.valueFen }
        }
        if active != outstandingFen {
            problems.append("\(id): active cards are worth \(active) but outstanding is \(outstandingFen)")
        }
        if issued != cardsIssued { problems.append("\(id): \(issued) cards held but \(cardsIssued) counted") }
        return problems
    }

    fileprivate func card(owner: String, ordinal: Int) -> Card? {
        guard let entries = holders[owner], ordinal < entries.count else { return nil }
        return entries[ordinal].card(campaign: campaign, owner: owner, ordinal: ordinal)
    }

    /// Every card of `owner` in this campaign, oldest first.
    public func cards(of owner: String) -> [Card] {
        guard let entries = holders[owner] else { return [] }
        return entries.enumerated().map { $1.card(campaign: campaign, owner: owner, ordinal: $0) }
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
            id: Card.id(campaign: campaign.id, owner: owner, ordinal: ordinal), campaign: campaign.id, owner: owner,
            kind: kind, valueFen: valueFen, issuedAt: Date(millisecondsSince1970: issuedAtMs),
            expiresAt: campaign.cardsExpireAt, state: state)
    }
}

/// The whole campaign ledger in memory: decides claims, applies journal events, answers queries.
///
/// Pure and synchronous; the storage layer makes its events durable and keeps it behind a lock.
public struct LedgerBook: Sendable {
    private struct IdempotencyIndex: Hashable {
        var user: String
        var key: String
    }

    private enum StoredOutcome {
        case issued(campaign: String, ordinal: Int, referralBonus: Bool)
        case refused(LedgerError)
    }

    private struct IdempotencyRecord {
        var digest: BodyDigest
        var outcome: StoredOutcome
        var batch: UInt64
    }

    /// Refused claims remembered for replay at most; past this, refusals are decided afresh.
    public static let maxRememberedRefusals = 1_000_000

    private var accounts: [String: CampaignAccount] = [:]
    private var idempotency: [IdempotencyIndex: IdempotencyRecord] = [:]
    private var rememberedRefusals = 0

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
    public func account(_ id: String) -> CampaignAccount? { accounts[id] }

    /// Every campaign, in no particular order.
    public var allAccounts: [CampaignAccount] { Array(accounts.values) }

    /// Every card `user` holds, across campaigns, oldest first within each campaign.
    public func cards(of user: String) -> [Card] {
        accounts.keys.sorted().flatMap { accounts[$0]!.cards(of: user) }
    }

    // MARK: Decisions

    /// Decides a claim. Applies its events to this book at once (so the next claim sees them);
    /// the caller makes them durable in commit batch `batch` before acknowledging.
    public mutating func claim(_ request: ClaimRequest, now: Date, batch: UInt64) -> ClaimDecision {
        let index = IdempotencyIndex(user: request.user, key: request.claimKey.key)
        if let record = idempotency[index] {
            guard record.digest == request.claimKey.digest else {
                return .decided(.refused(.idempotencyKeyReused), events: [])
            }
            return .replay(outcome(of: record, user: request.user), batch: record.batch)
        }
        switch decideClaim(request, now: now) {
        case .failure(let error):
            if rememberedRefusals < Self.maxRememberedRefusals {
                rememberedRefusals += 1
                idempotency[index] = IdempotencyRecord(
                    digest: request.claimKey.digest, outcome: .refused(error), batch: 0)
            }
            return .decided(.refused(error), events: [])
        case .success(let issues):
            let events = issues.map(LedgerEvent.cardIssued)
            applyDecided(events, batch: batch)
            let welcome = issues[0]
            let card = accounts[welcome.campaign]!.card(owner: welcome.owner, ordinal: welcome.ordinal)!
            return .decided(.issued(card, referralBonus: issues.count > 1), events: events)
        }
    }

    private func decideClaim(_ request: ClaimRequest, now: Date) -> Result<[CardIssue], LedgerError> {
        guard let account = accounts[request.campaign] else { return .failure(.campaignNotFound(request.campaign)) }
        let campaign = account.campaign
        guard now >= campaign.startsAt, now < campaign.endsAt, account.cardsExpiredAt == nil else {
            return .failure(.campaignNotActive(campaign.id))
        }
        if request.referralCode == request.user { return .failure(.selfReferral) }
        let held = account.holders[request.user] ?? []
        guard held.isEmpty, campaign.maxCardsPerUser > 0 else { return .failure(.cardLimitReached) }
        let value = campaign.cardValueFen
        guard account.remainingFen >= value else { return .failure(.budgetExhausted) }

        var bonusTo: String?
        if let referrer = request.referralCode, let referrerCards = account.holders[referrer],
            !referrerCards.isEmpty, referrerCards.count < campaign.maxCardsPerUser,
            account.remainingFen >= 2 * value
        {
            bonusTo = referrer
        }
        let nowMs = now.millisecondsSince1970
        var issues = [
            CardIssue(
                campaign: campaign.id, owner: request.user, ordinal: 0, kind: .welcome, valueFen: value,
                issuedAtMs: nowMs, claim: request.claimKey, counterpart: bonusTo)
        ]
        if let bonusTo {
            issues.append(
                CardIssue(
                    campaign: campaign.id, owner: bonusTo, ordinal: account.holders[bonusTo]!.count, kind: .referral,
                    valueFen: value, issuedAtMs: nowMs, claim: nil, counterpart: request.user))
        }
        return .success(issues)
    }

    private func outcome(of record: IdempotencyRecord, user: String) -> ClaimOutcome {
        switch record.outcome {
        case .refused(let error):
            return .refused(error)
        case .issued(let campaign, let ordinal, let bonus):
            return .issued(accounts[campaign]!.card(owner: user, ordinal: ordinal)!, referralBonus: bonus)
        }
    }

    /// Creates a campaign; returns the event to make durable.
    public mutating func createCampaign(_ campaign: Campaign) -> Result<[LedgerEvent], LedgerError> {
        if let problem = campaign.validationProblem() { return .failure(problem) }
        guard accounts[campaign.id] == nil else { return .failure(.campaignExists(campaign.id)) }
        let events = [LedgerEvent.campaignCreated(campaign)]
        applyDecided(events, batch: 0)
        return .success(events)
    }

    /// Extends a campaign's claim window or card expiry (never shortens them); returns the event.
    public mutating func extendCampaign(_ id: String, endsAt: Date?, cardsExpireAt: Date?) -> Result<
        [LedgerEvent], LedgerError
    > {
        guard let account = accounts[id] else { return .failure(.campaignNotFound(id)) }
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
        applyDecided(events, batch: 0)
        return .success(events)
    }

    /// Expires the cards of every campaign whose expiry has passed; returns the events.
    public mutating func expireDue(now: Date) -> [LedgerEvent] {
        let due = accounts.values.filter { $0.cardsExpiredAt == nil && now >= $0.campaign.cardsExpireAt }
        let events = due.map { LedgerEvent.cardsExpired(campaign: $0.campaign.id, at: now) }
        applyDecided(events, batch: 0)
        return events
    }

    private mutating func applyDecided(_ events: [LedgerEvent], batch: UInt64) {
        for event in events {
            do {
                try apply(event, batch: batch)
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
            guard accounts[campaign.id] == nil else {
                throw LedgerViolation(description: "campaign \(campaign.id) created twice")
            }
            accounts[campaign.id] = CampaignAccount(campaign: campaign)
        case .campaignUpdated(let campaign):
            guard let account = accounts[campaign.id] else {
                throw LedgerViolation(description: "update of unknown campaign \(campaign.id)")
            }
            guard campaign.budgetFen == account.campaign.budgetFen,
                campaign.cardValueFen == account.campaign.cardValueFen
            else {
                throw LedgerViolation(description: "update of \(campaign.id) changes its budget or card value")
            }
            accounts[campaign.id]!.campaign = campaign
        case .cardIssued(let issue):
            try applyIssue(issue, batch: batch)
        case .cardsExpired(let id, let at):
            guard var account = accounts.removeValue(forKey: id) else {
                throw LedgerViolation(description: "expiry of unknown campaign \(id)")
            }
            for (owner, var entries) in account.holders {
                for index in entries.indices where entries[index].state == .active {
                    entries[index].state = .expired
                }
                account.holders[owner] = entries
            }
            account.remainingFen += account.outstandingFen
            account.outstandingFen = 0
            account.cardsExpiredAt = at
            accounts[id] = account
        }
    }

    private func checkIssue(_ issue: CardIssue) throws(LedgerViolation) {
        let cardID = issue.cardID
        guard let account = accounts[issue.campaign] else {
            throw LedgerViolation(description: "card \(cardID) of unknown campaign")
        }
        let held = account.holders[issue.owner]?.count ?? 0
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
            guard let referee = issue.counterpart, referee != issue.owner,
                account.holders[referee]?.first?.kind == .welcome
            else {
                throw LedgerViolation(description: "referral card \(cardID) has no valid new user behind it")
            }
        }
    }

    private mutating func applyIssue(_ issue: CardIssue, batch: UInt64) throws(LedgerViolation) {
        try checkIssue(issue)
        // Mutate through the dictionary so no second reference forces a copy of the holders.
        accounts[issue.campaign]!.holders[issue.owner, default: []].append(
            CardEntry(kind: issue.kind, valueFen: issue.valueFen, issuedAtMs: issue.issuedAtMs, state: .active))
        accounts[issue.campaign]!.remainingFen -= issue.valueFen
        accounts[issue.campaign]!.outstandingFen += issue.valueFen
        accounts[issue.campaign]!.cardsIssued += 1
        if let claim = issue.claim {
            idempotency[IdempotencyIndex(user: issue.owner, key: claim.key)] = IdempotencyRecord(
                digest: claim.digest,
                outcome: .issued(campaign: issue.campaign, ordinal: issue.ordinal, referralBonus: issue.counterpart != nil),
                batch: batch)
        }
    }
}

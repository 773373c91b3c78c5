import Foundation

/// One durable fact in the campaign ledger. The journal is a sequence of these;
/// replaying it in order rebuilds the whole ledger.
public enum LedgerEvent: Sendable, Equatable {
    /// An admin created a campaign.
    case campaignCreated(Campaign)
    /// An admin changed a campaign's dates; the payload is the whole new definition.
    case campaignUpdated(Campaign)
    /// A card was issued and its value reserved from the budget.
    case cardIssued(CardIssue)
    /// Every active card of the campaign expired at the given instant.
    case cardsExpired(campaign: String, at: Date)
    /// An order was placed; its card, if any, was redeemed: the discount spent, the rest released.
    case orderPlaced(Order)
    /// An order changed state; a rejection or cancellation settled its card as recorded.
    case orderChanged(OrderChange)
}

/// The facts of one issued card.
public struct CardIssue: Sendable, Equatable {
    /// Campaign the card belongs to.
    public var campaign: String
    /// User receiving the card.
    public var owner: String
    /// Position among the owner's cards in this campaign (0 is the welcome card).
    public var ordinal: Int
    /// Why it was issued.
    public var kind: CardKind
    /// Face value in fen.
    public var valueFen: Int64
    /// Issue time, milliseconds since 1970.
    public var issuedAtMs: Int64
    /// For a welcome card, the claim's idempotency key and body digest.
    public var claim: ClaimKey?
    /// For a welcome card, the referrer who got a bonus with it; for a referral card, the new user.
    public var counterpart: String?

    /// Creates the facts of one issued card.
    public init(
        campaign: String, owner: String, ordinal: Int, kind: CardKind, valueFen: Int64,
        issuedAtMs: Int64, claim: ClaimKey?, counterpart: String?
    ) {
        self.campaign = campaign
        self.owner = owner
        self.ordinal = ordinal
        self.kind = kind
        self.valueFen = valueFen
        self.issuedAtMs = issuedAtMs
        self.claim = claim
        self.counterpart = counterpart
    }

    /// The card's id.
    public var cardID: String { Card.id(campaign: campaign, owner: owner, ordinal: ordinal) }
}

extension Date {
    /// Milliseconds since 1970, the journal's time unit.
    public var millisecondsSince1970: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }

    /// The instant `ms` milliseconds after 1970.
    public init(millisecondsSince1970 ms: Int64) {
        self.init(timeIntervalSince1970: Double(ms) / 1000)
    }
}

/// Why the ledger refused an operation. Each case maps to one stable API error code.
public enum LedgerError: Error, Sendable, Equatable {
    /// No campaign with that id.
    case campaignNotFound(String)
    /// A campaign with that id exists already.
    case campaignExists(String)
    /// The campaign definition or change is invalid.
    case invalidCampaign(String)
    /// Claims are not accepted now (before start, after end).
    case campaignNotActive(String)
    /// The user holds a welcome card already, or as many cards as the campaign allows.
    case cardLimitReached
    /// Not enough budget remains for another card.
    case budgetExhausted
    /// This node's share of the budget is used up while other nodes still hold some: retry.
    case budgetHeldElsewhere
    /// The claim names the claimant as their own referrer.
    case selfReferral
    /// The idempotency key was used before with a different request body.
    case idempotencyKeyReused
    /// No such order, or not one the caller may see.
    case orderNotFound(String)
    /// No such card among the caller's cards.
    case cardNotFound(String)
    /// The card exists but cannot pay: already used, expired or voided.
    case cardNotUsable(String)
    /// The order cannot move from its state to the one asked for.
    case illegalTransition(from: String, to: String)

    /// Stable machine-readable code for the API.
    public var code: String {
        switch self {
        case .campaignNotFound: "campaign_not_found"
        case .campaignExists: "campaign_exists"
        case .invalidCampaign: "invalid_campaign"
        case .campaignNotActive: "campaign_not_active"
        case .cardLimitReached: "card_limit_reached"
        case .budgetExhausted: "budget_exhausted"
        case .budgetHeldElsewhere: "budget_held_elsewhere"
        case .selfReferral: "self_referral"
        case .idempotencyKeyReused: "idempotency_key_reused"
        case .orderNotFound: "order_not_found"
        case .cardNotFound: "card_not_found"
        case .cardNotUsable: "card_not_usable"
        case .illegalTransition: "illegal_transition"
        }
    }

    /// Human-readable explanation.
    public var message: String {
        switch self {
        case .campaignNotFound(let id): "no campaign with id '\(id)'"
        case .campaignExists(let id): "a campaign with id '\(id)' exists already"
        case .invalidCampaign(let why): why
        case .campaignNotActive(let id): "campaign '\(id)' is not accepting claims now"
        case .cardLimitReached: "you already hold every card this campaign allows"
        case .budgetExhausted: "the campaign's budget is used up"
        case .budgetHeldElsewhere: "the rest of the budget is reserved by other servers; try again in a moment"
        case .selfReferral: "you cannot use your own referral code"
        case .idempotencyKeyReused: "this Idempotency-Key was used with a different request body"
        case .orderNotFound(let id): "no order with id '\(id)'"
        case .cardNotFound(let id): "you hold no card with id '\(id)'"
        case .cardNotUsable(let why): why
        case .illegalTransition(let from, let to): "an order that is \(from) cannot become \(to)"
        }
    }
}

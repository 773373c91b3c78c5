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
    /// The claim names the claimant as their own referrer.
    case selfReferral
    /// The idempotency key was used before with a different request body.
    case idempotencyKeyReused

    /// Stable machine-readable code for the API.
    public var code: String {
        switch self {
        case .campaignNotFound: "campaign_not_found"
        case .campaignExists: "campaign_exists"
        case .invalidCampaign: "invalid_campaign"
        case .campaignNotActive: "campaign_not_active"
        case .cardLimitReached: "card_limit_reached"
        case .budgetExhausted: "budget_exhausted"
        case .selfReferral: "self_referral"
        case .idempotencyKeyReused: "idempotency_key_reused"
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
        case .selfReferral: "you cannot use your own referral code"
        case .idempotencyKeyReused: "this Idempotency-Key was used with a different request body"
        }
    }
}

/// Why admission turned a request away, in the domain's terms: the HTTP answer each one gets is
/// decided at the server's edge, not here.
public enum AdmissionRefusal: Error, Equatable, Sendable {
    /// The user's or the address's token bucket is empty; a token is back after this many seconds.
    case rateLimited(retryAfterSeconds: Int)
    /// Operators paused the campaign; places in line are kept.
    case campaignPaused
    /// The ticket names another user or campaign.
    case ticketNotYours
    /// The ticket is older than tickets live.
    case ticketExpired
    /// The ticket does not read as one, or its signature does not hold.
    case invalidTicket
    /// The ticket asks for its puzzle's solution and none came with it.
    case proofRequired
    /// The solution that came does not solve the ticket's puzzle.
    case proofInvalid
}

extension AdmissionRefusal {
    /// Stable machine-readable code, the same over HTTP, MCP and to the assistant.
    public var code: String {
        switch self {
        case .rateLimited: "rate_limited"
        case .campaignPaused: "campaign_paused"
        case .ticketNotYours: "ticket_not_yours"
        case .ticketExpired: "ticket_expired"
        case .invalidTicket: "invalid_ticket"
        case .proofRequired: "proof_required"
        case .proofInvalid: "proof_invalid"
        }
    }

    /// What it means and what to do, for a person.
    public var message: String {
        switch self {
        case .rateLimited(let seconds): "too many requests; try again in \(seconds) s"
        case .campaignPaused: "the campaign is paused by its operators; places in line are kept"
        case .ticketNotYours: "this queue ticket belongs to another user or campaign"
        case .ticketExpired: "this queue ticket is too old; claim again for a new one"
        case .invalidTicket: "not a valid queue ticket"
        case .proofRequired: "this queue ticket is honoured only with its puzzle's solution in the Queue-Proof header"
        case .proofInvalid: "Queue-Proof does not solve this ticket's puzzle"
        }
    }
}

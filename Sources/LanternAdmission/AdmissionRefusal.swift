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

/// A place in a waiting room as its holder is told of it.
public struct QueuePlace: Sendable {
    /// The signed ticket.
    public var ticket: String
    /// Where it stands.
    public var status: QueueStatus
    /// The proof of work the ticket is honoured with (0: none).
    public var proofBits: Int
    /// The holder's earlier ticket was passed over while they were away: this one is at the back.
    public var rejoined = false
    /// How often the holder must ask to keep the place; nil when places are kept anyway.
    public var presenceWindow: Double?

    /// Creates a place.
    public init(ticket: String, status: QueueStatus, proofBits: Int, rejoined: Bool = false, presenceWindow: Double? = nil) {
        self.ticket = ticket
        self.status = status
        self.proofBits = proofBits
        self.rejoined = rejoined
        self.presenceWindow = presenceWindow
    }
}

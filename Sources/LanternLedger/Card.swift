import Foundation

/// Why a card was issued.
public enum CardKind: UInt8, Sendable, Codable {
    /// The one card every user may claim per campaign.
    case welcome = 0
    /// A bonus for bringing a new user to the campaign.
    case referral = 1
}

/// Where a card is in its life.
public enum CardState: String, Sendable, Codable {
    /// Holds its value in reserve until redeemed or expired.
    case active
    /// Paid for an order.
    case redeemed
    /// Passed its expiry unredeemed; its value went back to the budget.
    case expired
    /// Cancelled by the operator; its value went back to the budget.
    case voided
}

/// A free-order card as the API shows it.
public struct Card: Sendable, Equatable {
    /// Campaign the card belongs to.
    public var campaign: String
    /// User holding the card.
    public var owner: String
    /// Position among the owner's cards in the campaign (0 is the welcome card).
    public var ordinal: Int
    /// Why it was issued.
    public var kind: CardKind
    /// Face value in fen.
    public var valueFen: Int64
    /// When it was issued.
    public var issuedAt: Date
    /// When it stops being usable.
    public var expiresAt: Date
    /// Where it is in its life.
    public var state: CardState

    /// `campaign:owner:ordinal`, unique by construction across nodes.
    public var id: String { Self.id(campaign: campaign, owner: owner, ordinal: ordinal) }

    /// Builds the id of the `ordinal`-th card of `owner` in `campaign`.
    public static func id(campaign: String, owner: String, ordinal: Int) -> String {
        "\(campaign):\(owner):\(ordinal)"
    }
}

/// A 128-bit digest of a request body, used to tell a replay from a reused idempotency key.
public struct BodyDigest: Sendable, Hashable {
    /// First 64 bits.
    public var high: UInt64
    /// Last 64 bits.
    public var low: UInt64

    /// Creates a digest from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }
}

/// The idempotency key a claim carried, with the digest of its body.
public struct ClaimKey: Sendable, Equatable {
    /// The client's `Idempotency-Key` header.
    public var key: String
    /// Digest of the claim body.
    public var digest: BodyDigest

    /// Creates a claim key.
    public init(key: String, digest: BodyDigest) {
        self.key = key
        self.digest = digest
    }
}

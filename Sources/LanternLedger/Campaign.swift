import Foundation

/// A promotion that hands out free-order cards from a fixed budget.
public struct Campaign: Sendable, Equatable, Codable {
    /// Slug chosen by the admin, e.g. `spring-festival`.
    public var id: String
    /// Human-readable name.
    public var name: String
    /// Total money the campaign may ever commit, in fen.
    public var budgetFen: Int64
    /// Face value of every card, in fen.
    public var cardValueFen: Int64
    /// Cards one user may hold in this campaign: the welcome card plus referral bonuses.
    public var maxCardsPerUser: Int
    /// First instant claims are accepted.
    public var startsAt: Date
    /// First instant claims are no longer accepted.
    public var endsAt: Date
    /// Instant at which unredeemed cards expire and their value returns to the budget.
    public var cardsExpireAt: Date

    /// Creates a campaign definition.
    public init(
        id: String, name: String, budgetFen: Int64, cardValueFen: Int64, maxCardsPerUser: Int,
        startsAt: Date, endsAt: Date, cardsExpireAt: Date
    ) {
        self.id = id
        self.name = name
        self.budgetFen = budgetFen
        self.cardValueFen = cardValueFen
        self.maxCardsPerUser = maxCardsPerUser
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.cardsExpireAt = cardsExpireAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name
        case budgetFen = "budget_fen"
        case cardValueFen = "card_value_fen"
        case maxCardsPerUser = "max_cards_per_user"
        case startsAt = "starts_at"
        case endsAt = "ends_at"
        case cardsExpireAt = "cards_expire_at"
    }

    /// Checks the definition for mistakes an admin could make; returns the first one found.
    public func validationProblem() -> LedgerError? {
        if !Identifier.isValid(id) {
            return .invalidCampaign("id must be 1-64 characters of a-z, A-Z, 0-9, '-' or '_'")
        }
        if name.isEmpty || name.count > 200 { return .invalidCampaign("name must be 1-200 characters") }
        if budgetFen <= 0 { return .invalidCampaign("budget_fen must be positive") }
        if cardValueFen <= 0 { return .invalidCampaign("card_value_fen must be positive") }
        if cardValueFen > budgetFen { return .invalidCampaign("card_value_fen must not exceed budget_fen") }
        if maxCardsPerUser < 1 || maxCardsPerUser > 1000 {
            return .invalidCampaign("max_cards_per_user must be between 1 and 1000")
        }
        if endsAt <= startsAt { return .invalidCampaign("ends_at must be after starts_at") }
        if cardsExpireAt < endsAt { return .invalidCampaign("cards_expire_at must not be before ends_at") }
        return nil
    }
}

/// Rules for the ids Lantern accepts from clients (users, campaigns).
public enum Identifier {
    /// True when `value` is 1-64 ASCII letters, digits, `-` or `_`.
    public static func isValid(_ value: String) -> Bool {
        let utf8 = value.utf8
        guard !utf8.isEmpty, utf8.count <= 64 else { return false }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                continue
            default:
                return false
            }
        }
        return true
    }
}

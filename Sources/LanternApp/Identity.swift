/// What a caller may do.
public enum Role: String, Sendable, Codable, CaseIterable {
    /// A customer.
    case user
    /// Staff of one store.
    case merchant
    /// A campaign operator.
    case admin
}

/// The authenticated caller, from a verified bearer token.
public struct Identity: Sendable, Equatable {
    /// The token's `sub`.
    public var userID: String
    /// The token's `role`.
    public var role: Role
    /// The token's `merchant_id`, for merchants.
    public var merchantID: String?

    /// Creates an identity.
    public init(userID: String, role: Role, merchantID: String? = nil) {
        self.userID = userID
        self.role = role
        self.merchantID = merchantID
    }
}

import Crypto
import Foundation
import Hummingbird
import JWTKit
import LanternAdmission
import LanternApp
import LanternLedger
import LanternWire
import NIOCore

/// The JWT claims Lantern issues and accepts.
struct LanternClaims: JWTPayload {
    var sub: SubjectClaim
    var role: String
    var exp: ExpirationClaim
    var merchant_id: String?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// Mints and verifies HS256 bearer tokens (jwt-kit), with a fast path for the tokens it mints,
/// and accepts the RS256/ES256 tokens of an identity provider when one is configured.
public final class TokenAuthority: Sendable {
    private let keys: JWTKeyCollection
    private let compact: CompactHS256
    private let provider: ProviderKeys?
    private let pseudonymKey: SymmetricKey
    /// HMAC state keyed for experiment assignment, copied for each user (the key is set up once).
    private let experimentHMAC: KeyedHMACSHA256

    /// Shortest secret accepted: HS256 keys must be at least as long as the hash.
    public static let minimumSecretBytes = 32

    /// A secret shorter than `minimumSecretBytes`.
    public struct WeakSecret: Error, CustomStringConvertible {
        /// Explains the rule.
        public var description: String { "the JWT secret must be at least \(TokenAuthority.minimumSecretBytes) bytes" }
    }

    /// Creates an authority for the shared secret and, optionally, the platform's identity provider.
    public init(secret: String, provider: IdentityProviderConfiguration? = nil) async throws {
        guard secret.utf8.count >= Self.minimumSecretBytes else { throw WeakSecret() }
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        compact = CompactHS256(secret: secret)
        pseudonymKey = SymmetricKey(data: SHA256.hash(data: Array("lantern-pseudonym|\(secret)".utf8)))
        experimentHMAC = KeyedHMACSHA256(key: Array(SHA256.hash(data: Array("lantern-experiment|\(secret)".utf8))))
        if let provider { self.provider = try await ProviderKeys(provider) } else { self.provider = nil }
    }

    /// A stable stand-in for a user id, for those who must tell customers apart but not know
    /// them (a store's counter): a keyed hash, the same on every node sharing the secret.
    public func pseudonym(of user: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array(user.utf8), using: pseudonymKey)
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = Array("c-".utf8)
        for byte in code.prefix(6) { text += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
        return String(decoding: text, as: UTF8.self)
    }

    /// The keyed hash that assigns `user` a variant of `experiment`: the same on every node
    /// sharing the secret, and not one a user can compute to pick their variant.
    public func experimentHash(_ experiment: String, user: String) -> UInt64 {
        var message = experiment
        message.append("\u{0}")
        message.append(user)
        let code = message.withUTF8 { experimentHMAC.authenticationCode(for: UnsafeRawBufferPointer($0)) }
        return code.withUnsafeBytes { $0.prefix(8).reduce(0) { $0 << 8 | UInt64($1) } }
    }

    /// Signs a token for `identity`, valid for `lifetime`.
    public func mint(_ identity: Identity, lifetime: TimeInterval = 24 * 3600) async throws -> String {
        let claims = LanternClaims(
            sub: SubjectClaim(value: identity.userID), role: identity.role.rawValue,
            exp: ExpirationClaim(value: Date().addingTimeInterval(lifetime)), merchant_id: identity.merchantID)
        return try await keys.sign(claims)
    }

    /// Verifies a token's signature, expiry and claims.
    public func verify(_ token: String) async throws(APIError) -> Identity {
        switch compact.verify(token) {
        case .valid(let sub, let role, let exp, let merchantID):
            return try Self.identity(sub: sub, role: role, expiresAt: Date(timeIntervalSince1970: exp), merchantID: merchantID)
        case .invalid:
            throw .unauthorized("the bearer token is invalid or expired")
        case .unrecognized:
            // jwt-kit verifies with the key it holds whatever the header names, so the header
            // must name that key's algorithm and no other key; or a provider's key and its algorithm.
            guard let header = Self.header(token), header["crit"] == nil, let alg = header["alg"] as? String else {
                throw .unauthorized("the bearer token is invalid or expired")
            }
            if let provider, let kid = header["kid"] as? String, ProviderKeys.algorithms.contains(alg) {
                let claims: ProviderClaims
                do {
                    claims = try await provider.verify(token, alg: alg, kid: kid)
                } catch {
                    throw .unauthorized("the bearer token is invalid or expired")
                }
                return try Self.identity(
                    sub: claims.sub.value, role: claims.role ?? Role.user.rawValue, expiresAt: claims.exp.value,
                    merchantID: claims.merchant_id)
            }
            guard alg == "HS256", header["kid"] == nil else { throw .unauthorized("the bearer token is invalid or expired") }
            let full: LanternClaims
            do {
                full = try await keys.verify(token, as: LanternClaims.self)
            } catch {
                throw .unauthorized("the bearer token is invalid or expired")
            }
            return try Self.identity(
                sub: full.sub.value, role: full.role, expiresAt: full.exp.value, merchantID: full.merchant_id)
        }
    }

    /// The caller of a valid token in the shape Lantern mints, checked without suspending; nil for
    /// anything else (`verify` then gives the full answer).
    func verifiedIdentity(_ token: Substring) -> Identity? {
        guard case .valid(let sub, let role, let exp, let merchantID) = compact.verify(token) else { return nil }
        return try? Self.identity(sub: sub, role: role, expiresAt: Date(timeIntervalSince1970: exp), merchantID: merchantID)
    }

    /// A token's header, as JSON.
    private static func header(_ token: String) -> [String: Any]? {
        guard let segment = token.split(separator: ".", omittingEmptySubsequences: false).first,
            let bytes = Base64URL.decode(Array(segment.utf8)[...])
        else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
    }

    /// The latest expiry a token may carry: the last second of the year 9999.
    private static let latestExpiry = Date(timeIntervalSince1970: 253_402_300_799)

    private static func identity(sub: String, role: String, expiresAt: Date, merchantID: String?) throws(APIError)
        -> Identity
    {
        // An `exp` of 1e999 reads as infinity: a token that would never expire.
        guard expiresAt > Date(), expiresAt <= latestExpiry else {
            throw .unauthorized("the bearer token is invalid or expired")
        }
        guard let role = Role(rawValue: role) else { throw .unauthorized("the token has an unknown role") }
        guard Identifier.isValid(sub) else {
            throw .unauthorized("the token's subject must be 1-64 characters of a-z, A-Z, 0-9, '-' or '_'")
        }
        if role == .merchant && merchantID == nil {
            throw .unauthorized("a merchant token needs merchant_id")
        }
        return Identity(userID: sub, role: role, merchantID: merchantID)
    }
}

/// Request context carrying the authenticated caller.
public struct LanternRequestContext: RequestContext {
    /// Hummingbird's per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// Set by `BearerAuthMiddleware` for authenticated routes.
    public var identity: Identity?
    /// The event loop that owns the request's connection.
    public let eventLoop: any EventLoop
    /// The client's IP address, for per-address rate limits.
    public let clientAddress: String?

    /// Creates a context for a new request.
    public init(source: Source) {
        coreContext = .init(source: source)
        identity = nil
        eventLoop = source.channel.eventLoop
        clientAddress = source.channel.remoteAddress?.ipAddress
    }

    /// Bodies are read with an explicit limit by `JSONBody`; this caps anything else.
    public var maxUploadSize: Int { JSONBody.maxBodyBytes }

    /// The caller, who must hold one of `roles`.
    public func require(_ roles: Role...) throws(APIError) -> Identity {
        guard let identity else { throw .unauthorized() }
        guard roles.contains(identity.role) else {
            throw .forbidden("this needs the \(roles.map(\.rawValue).joined(separator: " or ")) role")
        }
        return identity
    }
}

/// Requires a valid `Authorization: Bearer` token and records the caller in the context.
public struct BearerAuthMiddleware: RouterMiddleware {
    /// The context this middleware fills in.
    public typealias Context = LanternRequestContext
    let tokens: TokenAuthority

    /// Creates the middleware.
    public init(tokens: TokenAuthority) { self.tokens = tokens }

    /// Verifies the token, then runs the route.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError.unauthorized()
        }
        var context = context
        context.identity = try await tokens.verify(String(header.dropFirst("Bearer ".count)))
        return try await next(request, context)
    }
}

import AsyncHTTPClient
import Foundation
import JWTKit
import Synchronization

/// The platform's identity provider, whose RS256 and ES256 tokens Lantern accepts beside its own
/// HS256 ones: where its keys are published (a JWKS file or URL) and which of its tokens are for
/// Lantern.
public struct IdentityProviderConfiguration: Sendable {
    /// A JWKS document: a file path, or an `http(s)://` URL fetched at start and again (at most
    /// once a minute) when a token names a key it does not list.
    public var jwks: String
    /// Required `iss`, when set.
    public var issuer: String?
    /// An `aud` the token must list, when set.
    public var audience: String?

    /// Creates a configuration.
    public init(jwks: String, issuer: String? = nil, audience: String? = nil) {
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
    }
}

/// The claims of a provider's token Lantern reads: `sub` and `exp` always; `role` (default
/// `user`) and `merchant_id` when the provider assigns them.
struct ProviderClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iss: IssuerClaim?
    var aud: AudienceClaim?
    var role: String?
    var merchant_id: String?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// The provider's public keys, verified with jwt-kit. A token is tried only against the key its
/// `kid` names, and only when the header's `alg` is that key's: jwt-kit alone would fall back to
/// another key for an unknown `kid` and build a signer from whatever `alg` the header claims.
final class ProviderKeys: Sendable {
    /// What a JWKS entry allows: its key type and curve, and its `alg` when it states one.
    struct KeyInfo: Sendable, Equatable {
        var kty: String
        var crv: String?
        var alg: String?

        /// Whether a token signed with `alg` may be checked with this key.
        func allows(_ alg: String) -> Bool {
            if let stated = self.alg, stated != alg { return false }
            switch alg {
            case "RS256", "RS384", "RS512": return kty == "RSA"
            case "ES256": return kty == "EC" && crv == "P-256"
            case "ES384": return kty == "EC" && crv == "P-384"
            default: return false
            }
        }
    }

    private struct State: Sendable {
        var keys = JWTKeyCollection()
        var info: [String: KeyInfo] = [:]
        var fetchedAt = ContinuousClock.Instant.now
    }

    /// The algorithms a provider's token may use.
    static let algorithms: Set<String> = ["RS256", "RS384", "RS512", "ES256", "ES384"]

    let configuration: IdentityProviderConfiguration
    private let state: Mutex<State>

    /// Loads the keys once; a provider whose keys cannot be read stops the server from starting.
    init(_ configuration: IdentityProviderConfiguration) async throws {
        self.configuration = configuration
        state = Mutex(try await Self.load(configuration.jwks))
    }

    /// The claims of `token` if one of the provider's keys, the one it names, signed it with the
    /// algorithm that key is for, and its issuer and audience are Lantern's.
    func verify(_ token: String, alg: String, kid: String) async throws -> ProviderClaims {
        var (keys, info) = state.withLock { ($0.keys, $0.info[kid]) }
        if info == nil, isURL, state.withLock({ ContinuousClock.now - $0.fetchedAt > .seconds(60) }) {
            // A key the document did not list: the provider may have rotated its keys.
            let fresh = try await Self.load(configuration.jwks)
            state.withLock { $0 = fresh }
            (keys, info) = (fresh.keys, fresh.info[kid])
        }
        guard let info, info.allows(alg) else { throw ProviderError.keyNotAllowed }
        let claims = try await keys.verify(token, as: ProviderClaims.self)
        if let issuer = configuration.issuer, claims.iss?.value != issuer { throw ProviderError.wrongIssuer }
        if let audience = configuration.audience {
            guard let aud = claims.aud else { throw ProviderError.wrongAudience }
            try aud.verifyIntendedAudience(includes: audience)
        }
        return claims
    }

    /// Why a provider token or key document was refused.
    enum ProviderError: Error { case keyNotAllowed, wrongIssuer, wrongAudience, unreadable(String) }

    private var isURL: Bool { configuration.jwks.hasPrefix("http://") || configuration.jwks.hasPrefix("https://") }

    private static func load(_ source: String) async throws -> State {
        let bytes: Data
        if source.hasPrefix("http://") || source.hasPrefix("https://") {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: source), timeout: .seconds(10))
            guard response.status == .ok else { throw ProviderError.unreadable("\(source) answered \(response.status.code)") }
            bytes = Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
        } else {
            bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        }
        let jwks = try JSONDecoder().decode(JWKS.self, from: bytes)
        var state = State()
        guard let document = try JSONSerialization.jsonObject(with: bytes) as? [String: Any],
            let entries = document["keys"] as? [[String: Any]]
        else { throw ProviderError.unreadable("\(source) is not a JWKS document") }
        for entry in entries {
            guard let kid = entry["kid"] as? String, let kty = entry["kty"] as? String else {
                throw ProviderError.unreadable("every key of \(source) needs kid and kty")
            }
            state.info[kid] = KeyInfo(kty: kty, crv: entry["crv"] as? String, alg: entry["alg"] as? String)
        }
        try await state.keys.add(jwks: jwks)
        return state
    }
}

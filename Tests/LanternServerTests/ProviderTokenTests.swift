import Crypto
import Foundation
import JWTKit
import LanternAdmission
import LanternApp
import Testing
import _CryptoExtras

@testable import LanternServer

/// Tokens from the platform's identity provider: RS256 and ES256, keys from a JWKS, checked with
/// jwt-kit, and refused whenever the header's algorithm is not the named key's.
@Suite("Identity provider tokens")
struct ProviderTokenTests {
    static let secret = "provider-test-secret-0123456789abcdef"

    /// A provider with one RSA and one P-256 key, its JWKS on disk, and Lantern's authority for it.
    struct Provider {
        let rsa: JWTKit.Insecure.RSA.PrivateKey
        let ec: P256.Signing.PrivateKey
        let signer = JWTKeyCollection()
        let tokens: TokenAuthority
        let jwksPath: String

        static func make(issuer: String? = "https://id.example", audience: String? = "lantern") async throws -> Provider {
            let rsa = try JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
            let ec = P256.Signing.PrivateKey()
            let (n, e) = try rsa.publicKey.getKeyPrimitives()
            let point = ec.publicKey.x963Representation
            let jwks = """
                {"keys":[
                 {"kty":"RSA","kid":"rsa-1","use":"sig","n":"\(Base64URL.encode(Array(n)))","e":"\(Base64URL.encode(Array(e)))"},
                 {"kty":"EC","kid":"ec-1","crv":"P-256","alg":"ES256","x":"\(Base64URL.encode(Array(point[1..<33])))","y":"\(Base64URL.encode(Array(point[33..<65])))"}
                ]}
                """
            let path = NSTemporaryDirectory() + "jwks-\(UUID().uuidString).json"
            try jwks.write(toFile: path, atomically: true, encoding: .utf8)
            let tokens = try await TokenAuthority(
                secret: secret, provider: IdentityProviderConfiguration(jwks: path, issuer: issuer, audience: audience))
            let provider = Provider(rsa: rsa, ec: ec, tokens: tokens, jwksPath: path)
            await provider.signer.add(rsa: rsa, digestAlgorithm: .sha256, kid: "rsa-1")
            await provider.signer.add(ecdsa: try ES256PrivateKey(pem: ec.pemRepresentation), kid: "ec-1")
            return provider
        }

        func claims(sub: String = "u-1", iss: String? = "https://id.example", aud: [String]? = ["lantern"], role: String? = nil,
                    merchant: String? = nil) -> ProviderClaims {
            ProviderClaims(
                sub: SubjectClaim(value: sub), exp: ExpirationClaim(value: Date().addingTimeInterval(600)),
                iss: iss.map { IssuerClaim(value: $0) }, aud: aud.map { AudienceClaim(value: $0) }, role: role, merchant_id: merchant)
        }

        /// A token with this header and payload, signed by hand with the EC key (ES256) or HMAC.
        func handmade(header: String, payload: String, hmacKey: [UInt8]? = nil) throws -> String {
            let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
            let signature: [UInt8]
            if let hmacKey {
                signature = Array(HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: hmacKey)))
            } else {
                signature = Array(try ec.signature(for: Array(input.utf8)).rawRepresentation)
            }
            return input + "." + Base64URL.encode(signature)
        }
    }

    @Test("RS256 and ES256 tokens from the JWKS are accepted, with the role and store the provider gives")
    func accepted() async throws {
        let provider = try await Provider.make()
        let rs256 = try await provider.signer.sign(provider.claims(), kid: "rsa-1")
        #expect(try await provider.tokens.verify(rs256) == Identity(userID: "u-1", role: .user))
        let es256 = try await provider.signer.sign(provider.claims(sub: "m-2", role: "merchant", merchant: "m-000001"), kid: "ec-1")
        #expect(try await provider.tokens.verify(es256) == Identity(userID: "m-2", role: .merchant, merchantID: "m-000001"))
        // Lantern's own tokens still work beside them.
        let own = try await provider.tokens.mint(Identity(userID: "ann", role: .user))
        #expect(try await provider.tokens.verify(own) == Identity(userID: "ann", role: .user))
    }

    @Test("Refused: another issuer or audience, an unknown key, an alg that is not the key's, HMAC in a key's name, exp not finite")
    func refused() async throws {
        let provider = try await Provider.make()
        func refuses(_ token: String, _ why: String) async {
            await #expect(throws: APIError.self, "\(why)") { try await provider.tokens.verify(token) }
        }
        await refuses(try await provider.signer.sign(provider.claims(iss: "https://evil.example"), kid: "rsa-1"), "issuer")
        await refuses(try await provider.signer.sign(provider.claims(iss: nil), kid: "rsa-1"), "no issuer")
        await refuses(try await provider.signer.sign(provider.claims(aud: ["other"]), kid: "ec-1"), "audience")
        await refuses(try await provider.signer.sign(provider.claims(aud: nil), kid: "ec-1"), "no audience")
        let exp = Int(Date().addingTimeInterval(600).timeIntervalSince1970)
        let payload = #"{"sub":"u-1","exp":\#(exp),"iss":"https://id.example","aud":"lantern"}"#
        #expect(try await provider.tokens.verify(try provider.handmade(header: #"{"alg":"ES256","kid":"ec-1"}"#, payload: payload)).userID == "u-1")
        await refuses(try provider.handmade(header: #"{"alg":"ES256","kid":"nope"}"#, payload: payload), "unknown kid")
        await refuses(try provider.handmade(header: #"{"alg":"ES256"}"#, payload: payload), "no kid")
        // An ES256 signature presented as RS256 under the EC key, and under the RSA key.
        await refuses(try provider.handmade(header: #"{"alg":"RS256","kid":"ec-1"}"#, payload: payload), "alg not the EC key's")
        await refuses(try provider.handmade(header: #"{"alg":"ES256","kid":"rsa-1"}"#, payload: payload), "alg not the RSA key's")
        // The classic confusion: HMAC keyed with the public key, in the public key's name.
        let publicPEM = Array(provider.rsa.publicKey.pemRepresentation.utf8)
        await refuses(try provider.handmade(header: #"{"alg":"HS256","kid":"rsa-1"}"#, payload: payload, hmacKey: publicPEM), "HS256 with kid")
        await refuses(try provider.handmade(header: #"{"alg":"RS256","kid":"rsa-1"}"#, payload: payload, hmacKey: publicPEM), "HMAC as RS256")
        await refuses(try provider.handmade(header: #"{"alg":"none","kid":"rsa-1"}"#, payload: payload), "none")
        let forever = #"{"sub":"u-1","exp":1e999,"iss":"https://id.example","aud":"lantern"}"#
        await refuses(try provider.handmade(header: #"{"alg":"ES256","kid":"ec-1"}"#, payload: forever), "exp 1e999")
        let far = #"{"sub":"u-1","exp":1e300,"iss":"https://id.example","aud":"lantern"}"#
        await refuses(try provider.handmade(header: #"{"alg":"ES256","kid":"ec-1"}"#, payload: far), "exp past year 9999")
    }

    @Test("Over HTTP, a provider's token reaches the routes as its user")
    func overHTTP() async throws {
        let provider = try await Provider.make()
        let token = try await provider.signer.sign(provider.claims(sub: "idp-user"), kid: "rsa-1")
        try await withTestApp(.sqlite, identityProvider: IdentityProviderConfiguration(
            jwks: provider.jwksPath, issuer: "https://id.example", audience: "lantern")) { app in
            let cards = try await app.send(.get, "/v1/me/cards", headers: [.authorization: "Bearer \(token)"])
            #expect(cards.status == .ok, "\(cards.json)")
            let forged = try provider.handmade(header: #"{"alg":"HS256","kid":"rsa-1"}"#, payload: "{}", hmacKey: [1, 2, 3])
            #expect(try await app.send(.get, "/v1/me/cards", headers: [.authorization: "Bearer \(forged)"]).status == .unauthorized)
        }
    }
}

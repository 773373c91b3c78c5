import Crypto
import Foundation
import LanternAdmission
import LanternApp
import Testing

@testable import LanternServer
@testable import LanternWire

@Suite struct TokenTests {
    static let secret = "token-test-secret-0123456789abcdef0123"

    func base64URL(_ text: String) -> String { Base64URL.encode(Array(text.utf8)) }

    @Test func mintedTokensTakeTheFastPathWithTheirClaims() async throws {
        let tokens = try await TokenAuthority(secret: Self.secret)
        let token = try await tokens.mint(Identity(userID: "m-7", role: .merchant, merchantID: "store-9"))
        let compact = CompactHS256(secret: Self.secret)
        guard case .valid(let sub, let role, let exp, let merchant) = compact.verify(token) else {
            Issue.record("fast path did not accept a minted token")
            return
        }
        #expect(sub == "m-7")
        #expect(role == "merchant")
        #expect(merchant == "store-9")
        #expect(abs(exp - Date().addingTimeInterval(86_400).timeIntervalSince1970) < 60)
        #expect(try await tokens.verify(token) == Identity(userID: "m-7", role: .merchant, merchantID: "store-9"))
    }

    @Test func headersInAnyKeyOrderTakeTheFastPath() throws {
        let exp = Int(Date().addingTimeInterval(3_600).timeIntervalSince1970)
        let signingInput = base64URL(#"{"typ":"JWT","alg":"HS256"}"#) + "." + base64URL(#"{"role":"user","sub":"bo","exp":\#(exp)}"#)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: SymmetricKey(data: Array(Self.secret.utf8)))
        let token = signingInput + "." + Base64URL.encode(Array(mac))
        #expect(CompactHS256(secret: Self.secret).verify(token) == .valid(sub: "bo", role: "user", exp: Double(exp), merchantID: nil))
    }

    @Test func aTamperedPayloadIsRejected() async throws {
        let tokens = try await TokenAuthority(secret: Self.secret)
        let token = try await tokens.mint(Identity(userID: "alice", role: .user))
        let parts = token.split(separator: ".")
        let exp = Int(Date().addingTimeInterval(3_600).timeIntervalSince1970)
        let forgedPayload = base64URL(#"{"sub":"alice","role":"admin","exp":\#(exp)}"#)
        let forged = "\(parts[0]).\(forgedPayload).\(parts[2])"
        #expect(CompactHS256(secret: Self.secret).verify(forged) == .invalid)
        await #expect(throws: APIError.self) { try await tokens.verify(forged) }
    }

    @Test func anotherHeaderFallsBackToTheFullVerifierWhichRefusesUnsignedTokens() async throws {
        let tokens = try await TokenAuthority(secret: Self.secret)
        let exp = Int(Date().addingTimeInterval(3_600).timeIntervalSince1970)
        let unsigned = base64URL(#"{"alg":"none","typ":"JWT"}"#) + "." + base64URL(#"{"sub":"eve","role":"admin","exp":\#(exp)}"#) + "."
        #expect(CompactHS256(secret: Self.secret).verify(unsigned) == .unrecognized)
        await #expect(throws: APIError.self) { try await tokens.verify(unsigned) }
    }

    /// A token signed with the test secret (HMAC-SHA256) whatever its header says.
    func hmacSigned(header: String, payload: String) -> String {
        let signingInput = base64URL(header) + "." + base64URL(payload)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: SymmetricKey(data: Array(Self.secret.utf8)))
        return signingInput + "." + Base64URL.encode(Array(mac))
    }

    @Test("A token whose header names another algorithm than its key's is refused, however it was signed",
        arguments: [#"{"alg":"none","typ":"JWT"}"#, #"{"alg":"RS256","typ":"JWT"}"#, #"{"alg":"HS512"}"#, #"{"typ":"JWT"}"#,
                    #"{"alg":"HS256","typ":"JWT","kid":"other"}"#])
    func theHeadersAlgorithmMustBeTheKeys(header: String) async throws {
        let tokens = try await TokenAuthority(secret: Self.secret)
        let exp = Int(Date().addingTimeInterval(3_600).timeIntervalSince1970)
        let token = hmacSigned(header: header, payload: #"{"sub":"eve","role":"admin","exp":\#(exp)}"#)
        await #expect(throws: APIError.self) { try await tokens.verify(token) }
    }

    @Test("An expiry that is not a finite time is refused", arguments: ["1e999", "-1e999", "1e300"])
    func anInfiniteExpiryIsRefused(exp: String) async throws {
        let tokens = try await TokenAuthority(secret: Self.secret)
        for header in [#"{"alg":"HS256","typ":"JWT"}"#, #"{"typ":"JWT","alg":"HS256","x":1}"#] {
            let token = hmacSigned(header: header, payload: #"{"sub":"eve","role":"admin","exp":\#(exp)}"#)
            await #expect(throws: APIError.self, "\(header) exp \(exp)") { try await tokens.verify(token) }
            #expect(tokens.verifiedIdentity(token[...]) == nil)
        }
    }

    @Test func anotherSecretsSignatureIsInvalid() async throws {
        let ours = try await TokenAuthority(secret: Self.secret)
        let theirs = try await TokenAuthority(secret: "some-other-secret-0123456789abcdefghij")
        let token = try await theirs.mint(Identity(userID: "x", role: .admin))
        await #expect(throws: APIError.self) { try await ours.verify(token) }
    }

    /// A token signed with the test secret over this payload, in Lantern's header.
    func signed(_ payload: String) -> String {
        let signingInput = base64URL(#"{"alg":"HS256","typ":"JWT"}"#) + "." + base64URL(payload)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: SymmetricKey(data: Array(Self.secret.utf8)))
        return signingInput + "." + Base64URL.encode(Array(mac))
    }

    @Test func payloadsBeyondLanternsFourClaimsAreReadOrLeftToTheFullVerifier() {
        let compact = CompactHS256(secret: Self.secret)
        // Other ASCII claims, once each, are read past; a null merchant_id is no merchant.
        #expect(
            compact.verify(signed(#"{"iss":"ops","sub":"bo","iat":1700000000,"role":"user","exp":1.9e9,"merchant_id":null}"#))
                == .valid(sub: "bo", role: "user", exp: 1.9e9, merchantID: nil))
        #expect(
            compact.verify(signed(#"{"sub":"m","role":"merchant","exp":2000000000,"merchant_id":"s-1"}"#))
                == .valid(sub: "m", role: "merchant", exp: 2_000_000_000, merchantID: "s-1"))
        // Anything else goes to jwt-kit: a claim twice, a name outside ASCII, a claim of another
        // type, a claim missing.
        for payload in [
            #"{"sub":"bo","sub":"al","role":"user","exp":2000000000}"#,
            #"{"sub":"bo","iat":1,"iat":2,"role":"user","exp":2000000000}"#,
            #"{"sub":"bo","clé":1,"role":"user","exp":2000000000}"#,
            #"{"sub":7,"role":"user","exp":2000000000}"#,
            #"{"sub":"bo","role":"user","exp":"2000000000"}"#,
            #"{"sub":"bo","role":"user","exp":2000000000,"merchant_id":true}"#,
            #"{"sub":"bo","exp":2000000000}"#,
            #"{"sub":"bo","role":"user","exp":2000000000,"x":{"y":1}}"#,
        ] {
            #expect(compact.verify(signed(payload)) == .unrecognized, "\(payload)")
        }
        // A signature of the wrong length or not in base64url is invalid, not unrecognized.
        let token = signed(#"{"sub":"bo","role":"user","exp":2000000000}"#)
        #expect(compact.verify(String(token.dropLast())) == .invalid)
        #expect(compact.verify(token + "A") == .invalid)
        #expect(compact.verify(String(token.dropLast()) + "+") == .invalid)
    }

    @Test func keyedHMACMatchesSwiftCryptosHMACForKeysOfEveryLength() {
        var generator = SystemRandomNumberGenerator()
        for keyLength in [1, 32, 63, 64, 65, 100, 200] {
            let key = (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let keyed = KeyedHMACSHA256(key: key)
            for messageLength in [0, 1, 55, 56, 64, 200] {
                let message = (0..<messageLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let ours = message.withUnsafeBytes { Array(keyed.authenticationCode(for: $0)) }
                let reference = Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
                #expect(ours == reference, "key \(keyLength) bytes, message \(messageLength) bytes")
            }
        }
    }

    @Test func experimentAssignmentIsHMACSHA256OfExperimentAndUser() async throws {
        // Assignments made before must stay as they were: the hash is HMAC-SHA256 keyed with
        // SHA-256 of the secret's experiment key, over "experiment NUL user", first 8 bytes.
        let secret = String(repeating: "k", count: 32)
        let tokens = try await TokenAuthority(secret: secret)
        let key = SymmetricKey(data: SHA256.hash(data: Array("lantern-experiment|\(secret)".utf8)))
        for (experiment, user) in [("routing-1", "u1"), ("e", ""), ("午餐", "用户-42"), (String(repeating: "x", count: 70), "u9")] {
            let code = HMAC<SHA256>.authenticationCode(for: Array("\(experiment)\u{0}\(user)".utf8), using: key)
            let expected = Array(code).prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            #expect(tokens.experimentHash(experiment, user: user) == expected, "\(experiment) \(user)")
        }
    }

    @Test func numbersReadDirectlyMatchSwiftsOwnReading() {
        var generator = SystemRandomNumberGenerator()
        var texts = ["0", "7", "01", "-0", "-12", "1.5", "2e9", "1E-3", "999999999999999", "9999999999999999", "1-2", "--1", ".", "1e"]
        for _ in 0..<500 { texts.append(String(UInt64.random(in: 0...999_999_999_999_999, using: &generator))) }
        for text in texts {
            let read = Array(text.utf8).withUnsafeBufferPointer { FlatJSONObject.number($0[...]) }
            #expect(read == Double(text), "\(text)")
        }
    }

    @Test func flatJSONReadsOnlyFlatObjects() {
        #expect(FlatJSONObject.parse(Array(#" {"a":"b", "n":-1.5e2,"t":true,"z":null} "#.utf8)) == [
            "a": .string("b"), "n": .number(-150), "t": .bool(true), "z": .null,
        ])
        #expect(FlatJSONObject.parse(Array("{}".utf8)) == [:])
        #expect(FlatJSONObject.parse(Array(#"{"a":{"b":1}}"#.utf8)) == nil)
        #expect(FlatJSONObject.parse(Array(#"{"a":"b\"c"}"#.utf8)) == nil)
        #expect(FlatJSONObject.parse(Array(#"{"a":1,"a":2}"#.utf8)) == nil)
        #expect(FlatJSONObject.parse(Array(#"{"a":1"#.utf8)) == nil)
        #expect(FlatJSONObject.parse(Array(#"{"a":1} x"#.utf8)) == nil)
    }
}

@Suite struct JSONWriterTests {
    @Test func timestampsMatchISO8601Formatting() {
        let formatter = ISO8601DateFormatter()
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let date = Date(timeIntervalSince1970: Double(Int64.random(in: -2_000_000_000...8_000_000_000, using: &generator)))
            #expect(RFC3339.format(date) == formatter.string(from: date))
            var writer = JSONWriter()
            writer.beginObject()
            writer.field("at", date)
            writer.endObject()
            #expect(String(decoding: writer.bytes, as: UTF8.self) == "{\"at\":\"\(formatter.string(from: date))\"}")
        }
    }

    @Test func stringsAreEscaped() throws {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("text", "quote \" backslash \\ newline \n 茶")
        writer.field("n", Int64(-5))
        writer.endObject()
        let decoded = try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? [String: Any]
        #expect(decoded?["text"] as? String == "quote \" backslash \\ newline \n 茶")
        #expect(decoded?["n"] as? Int == -5)
    }
}

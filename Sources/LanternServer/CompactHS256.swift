import Crypto
import Foundation
import LanternAdmission

/// Verifies HS256 tokens in the shape Lantern mints without going through a JSON decoder:
/// the header must say exactly `alg: HS256` (and `typ: JWT`, in either order), the signature
/// is checked in constant time, and the payload is a flat JSON object read by a small scanner.
///
/// Anything it does not recognise is `.unrecognized`, and the caller falls back to jwt-kit's
/// full verification, so this only ever accepts what jwt-kit would accept too.
struct CompactHS256 {
    /// What the fast path made of a token.
    enum Verdict: Equatable {
        /// Signature valid; these are the payload's claims.
        case valid(sub: String, role: String, exp: Double, merchantID: String?)
        /// Signature invalid: the token is forged or damaged.
        case invalid
        /// Not a shape this verifier reads; use the full verifier.
        case unrecognized
    }

    /// The HMAC with the key already mixed in: each verification starts from a copy of it
    /// instead of deriving the padded keys again.
    private let keyed: HMAC<SHA256>

    /// Creates a verifier for tokens signed with `secret`.
    init(secret: String) {
        keyed = HMAC<SHA256>(key: SymmetricKey(data: Array(secret.utf8)))
    }

    private static let expectedHeader: [String: FlatJSONObject.Value] = ["alg": .string("HS256"), "typ": .string("JWT")]

    /// The header segment of the tokens Lantern mints (`{"alg":"HS256","typ":"JWT"}`), accepted
    /// without decoding; any other spelling is decoded and checked field by field.
    private static let mintedHeader = Array("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9".utf8)

    func verify(_ token: String) -> Verdict {
        let bytes = Array(token.utf8)
        guard let firstDot = bytes.firstIndex(of: UInt8(ascii: ".")),
            let secondDot = bytes[(firstDot + 1)...].firstIndex(of: UInt8(ascii: ".")),
            !bytes[(secondDot + 1)...].contains(UInt8(ascii: "."))
        else { return .unrecognized }
        guard bytes[..<firstDot].elementsEqual(Self.mintedHeader)
            || Base64URL.decode(bytes[..<firstDot]).flatMap(FlatJSONObject.parse) == Self.expectedHeader
        else { return .unrecognized }
        guard let signature = Base64URL.decode(bytes[(secondDot + 1)...]) else { return .invalid }
        var mac = keyed
        bytes.withUnsafeBytes { mac.update(data: UnsafeRawBufferPointer(rebasing: $0[..<secondDot])) }
        guard Self.constantTimeEqual(mac.finalize(), signature) else { return .invalid }
        guard let payload = Base64URL.decode(bytes[(firstDot + 1)..<secondDot]),
            let fields = FlatJSONObject.parse(payload),
            case .string(let sub)? = fields["sub"], case .string(let role)? = fields["role"],
            case .number(let exp)? = fields["exp"]
        else { return .unrecognized }
        var merchantID: String?
        switch fields["merchant_id"] {
        case .string(let value)?: merchantID = value
        case nil, .null?: merchantID = nil
        default: return .unrecognized
        }
        return .valid(sub: sub, role: role, exp: exp, merchantID: merchantID)
    }

    /// Whether the MAC equals `signature`, taking the same time wherever they differ.
    private static func constantTimeEqual(_ mac: HashedAuthenticationCode<SHA256>, _ signature: [UInt8]) -> Bool {
        mac.withUnsafeBytes { mac in
            guard mac.count == signature.count else { return false }
            var difference: UInt8 = 0
            for index in 0..<mac.count { difference |= mac[index] ^ signature[index] }
            return difference == 0
        }
    }
}

/// A JSON object whose values are strings without escapes, numbers, booleans or null.
enum FlatJSONObject {
    enum Value: Equatable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case null
    }

    /// The object's fields, or nil for anything else (nesting, escapes, broken JSON).
    static func parse(_ bytes: [UInt8]) -> [String: Value]? {
        var index = 0
        func skipSpace() {
            while index < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[index]) { index += 1 }
        }
        func expect(_ char: UInt8) -> Bool {
            skipSpace()
            guard index < bytes.count, bytes[index] == char else { return false }
            index += 1
            return true
        }
        func string() -> String? {
            guard expect(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                if bytes[index] == UInt8(ascii: "\\") || bytes[index] < 0x20 { return nil }
                index += 1
            }
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }
        func literal(_ word: String) -> Bool {
            let utf8 = Array(word.utf8)
            guard index + utf8.count <= bytes.count, bytes[index..<(index + utf8.count)].elementsEqual(utf8) else {
                return false
            }
            index += utf8.count
            return true
        }
        guard expect(UInt8(ascii: "{")) else { return nil }
        var fields: [String: Value] = [:]
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                guard let key = string(), expect(UInt8(ascii: ":")) else { return nil }
                skipSpace()
                guard index < bytes.count else { return nil }
                let value: Value
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    guard let text = string() else { return nil }
                    value = .string(text)
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    let start = index
                    while index < bytes.count, "0123456789.eE+-".utf8.contains(bytes[index]) { index += 1 }
                    guard let number = Double(String(decoding: bytes[start..<index], as: UTF8.self)) else { return nil }
                    value = .number(number)
                case UInt8(ascii: "t") where literal("true"): value = .bool(true)
                case UInt8(ascii: "f") where literal("false"): value = .bool(false)
                case UInt8(ascii: "n") where literal("null"): value = .null
                default: return nil
                }
                guard fields.updateValue(value, forKey: key) == nil else { return nil }
                if expect(UInt8(ascii: ",")) { continue }
                guard expect(UInt8(ascii: "}")) else { return nil }
                break
            }
        }
        skipSpace()
        return index == bytes.count ? fields : nil
    }
}

import Crypto
import Foundation
import LanternAdmission

/// Verifies HS256 tokens in the shape Lantern mints without going through a JSON decoder:
/// the header must say exactly `alg: HS256` (and `typ: JWT`, in either order), the signature
/// is checked in constant time, and the payload is a flat JSON object read by a small scanner.
///
/// Anything it does not recognise is `.unrecognized`, and the caller falls back to jwt-kit's
/// full verification, so this only ever accepts what jwt-kit would accept too.
public struct CompactHS256: Sendable {
    /// What the fast path made of a token.
    public enum Verdict: Equatable, Sendable {
        /// Signature valid; these are the payload's claims.
        case valid(sub: String, role: String, exp: Double, merchantID: String?)
        /// Signature invalid: the token is forged or damaged.
        case invalid
        /// Not a shape this verifier reads; use the full verifier.
        case unrecognized
    }

    /// HMAC-SHA256 with the key already mixed in.
    private let keyed: KeyedHMACSHA256

    /// Creates a verifier for tokens signed with `secret`.
    public init(secret: String) {
        keyed = KeyedHMACSHA256(key: Array(secret.utf8))
    }

    private static let expectedHeader: [String: FlatJSONObject.Value] = ["alg": .string("HS256"), "typ": .string("JWT")]

    /// The header segment of the tokens Lantern mints (`{"alg":"HS256","typ":"JWT"}`), accepted
    /// without decoding; any other spelling is decoded and checked field by field.
    private static let mintedHeader = Array("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9".utf8)

    /// Checks `token`'s signature and reads its claims.
    public func verify(_ token: String) -> Verdict { verify(token[...]) }

    /// Checks `token`'s signature and reads its claims, straight from its UTF-8 bytes.
    public func verify(_ token: Substring) -> Verdict {
        var token = token
        return token.withUTF8 { verify(bytes: $0) }
    }

    private func verify(bytes: UnsafeBufferPointer<UInt8>) -> Verdict {
        let dot = UInt8(ascii: ".")
        guard let firstDot = bytes.firstIndex(of: dot),
            let secondDot = bytes[(firstDot + 1)...].firstIndex(of: dot),
            !bytes[(secondDot + 1)...].contains(dot)
        else { return .unrecognized }
        let header = bytes[..<firstDot]
        guard header.elementsEqual(Self.mintedHeader)
            || Base64URL.decode(Array(header)[...]).flatMap(FlatJSONObject.parse) == Self.expectedHeader
        else { return .unrecognized }
        let signed = Self.decoded(bytes[(secondDot + 1)...]) { signature in
            guard let signature else { return false }
            let mac = keyed.authenticationCode(for: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[..<secondDot])))
            return Self.constantTimeEqual(mac, signature)
        }
        guard signed else { return .invalid }
        return Self.decoded(bytes[(firstDot + 1)..<secondDot]) { payload in
            payload.map(Self.claims) ?? .unrecognized
        }
    }

    /// Runs `body` with `segment` decoded from base64url into scratch memory (nil if it is not
    /// base64url), so reading a token allocates nothing for its parts.
    private static func decoded<T>(
        _ segment: Slice<UnsafeBufferPointer<UInt8>>, _ body: (UnsafeBufferPointer<UInt8>?) -> T
    ) -> T {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Base64URL.maxDecodedCount(segment.count)) { scratch in
            guard let count = Base64URL.decode(UnsafeBufferPointer(rebasing: segment), into: scratch) else {
                return body(nil)
            }
            return body(UnsafeBufferPointer(rebasing: scratch[..<count]))
        }
    }

    /// The claims of a signed payload. Field names other than the four read here must be ASCII
    /// and appear once; anything else is left to the full verifier.
    private static func claims(_ payload: UnsafeBufferPointer<UInt8>) -> Verdict {
        var sub: String?
        var role: String?
        var exp: Double?
        var merchantID: String??
        var otherNames: [Range<Int>] = []
        let read = FlatJSONObject.scan(payload) { name, value in
            let nameBytes = payload[name]
            func string() -> String? {
                guard case .string(let range) = value else { return nil }
                return String(decoding: payload[range], as: UTF8.self)
            }
            if nameBytes.elementsEqual("sub".utf8) {
                guard sub == nil, let value = string() else { return false }
                sub = value
            } else if nameBytes.elementsEqual("role".utf8) {
                guard role == nil, let value = string() else { return false }
                role = value
            } else if nameBytes.elementsEqual("exp".utf8) {
                guard exp == nil, case .number(let range) = value, let number = FlatJSONObject.number(payload[range]) else {
                    return false
                }
                exp = number
            } else if nameBytes.elementsEqual("merchant_id".utf8) {
                guard merchantID == nil else { return false }
                if case .null = value {
                    merchantID = .some(nil)
                } else {
                    guard let value = string() else { return false }
                    merchantID = value
                }
            } else {
                guard nameBytes.allSatisfy({ $0 < 0x80 }),
                    !otherNames.contains(where: { payload[$0].elementsEqual(nameBytes) })
                else { return false }
                otherNames.append(name)
            }
            return true
        }
        guard read, let sub, let role, let exp else { return .unrecognized }
        return .valid(sub: sub, role: role, exp: exp, merchantID: merchantID ?? nil)
    }

    /// Whether the MAC equals `signature`, taking the same time wherever they differ.
    private static func constantTimeEqual(_ mac: SHA256Digest, _ signature: UnsafeBufferPointer<UInt8>) -> Bool {
        mac.withUnsafeBytes { mac in
            guard mac.count == signature.count else { return false }
            var difference: UInt8 = 0
            for index in 0..<mac.count { difference |= mac[index] ^ signature[index] }
            return difference == 0
        }
    }
}

/// HMAC-SHA256 (RFC 2104) over swift-crypto's SHA256, with the padded keys absorbed once.
///
/// Each code starts from copies of the two keyed hash states. Calling `SHA256` directly, rather
/// than through the generic `HMAC<SHA256>`, spares the generic dispatch that cost more than
/// the hashing of a token (and than that of a user's experiment assignment, which a report
/// works out for millions of users).
package struct KeyedHMACSHA256 {
    private let inner: SHA256
    private let outer: SHA256

    /// Absorbs `key` (hashed first when longer than SHA-256's 64-byte block, as RFC 2104 says).
    package init(key: [UInt8]) {
        var block = key.count > 64 ? Array(SHA256.hash(data: key)) : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        var inner = SHA256()
        inner.update(data: block.map { $0 ^ 0x36 })
        var outer = SHA256()
        outer.update(data: block.map { $0 ^ 0x5C })
        self.inner = inner
        self.outer = outer
    }

    /// The authentication code of `message`.
    package func authenticationCode(for message: UnsafeRawBufferPointer) -> SHA256Digest {
        var inner = self.inner
        inner.update(bufferPointer: message)
        var outer = self.outer
        inner.finalize().withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize()
    }
}

/// A JSON object whose values are strings without escapes, numbers, booleans or null.
enum FlatJSONObject {
    /// A field's value.
    enum Value: Equatable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case null
    }

    /// A field's value where it lies in the bytes: strings (between their quotes) and numbers
    /// as byte ranges, read only when wanted.
    enum ScannedValue {
        case string(Range<Int>)
        case number(Range<Int>)
        case bool(Bool)
        case null
    }

    /// The object's fields, or nil for anything else (nesting, escapes, broken JSON, a name
    /// given twice).
    static func parse(_ bytes: [UInt8]) -> [String: Value]? {
        var fields: [String: Value] = [:]
        let read = bytes.withUnsafeBufferPointer { bytes in
            scan(bytes) { name, scanned in
                let value: Value
                switch scanned {
                case .string(let range): value = .string(String(decoding: bytes[range], as: UTF8.self))
                case .number(let range):
                    guard let number = number(bytes[range]) else { return false }
                    value = .number(number)
                case .bool(let flag): value = .bool(flag)
                case .null: value = .null
                }
                return fields.updateValue(value, forKey: String(decoding: bytes[name], as: UTF8.self)) == nil
            }
        }
        return read ? fields : nil
    }

    /// The number a scanned number's bytes spell, nil if they spell none. Plain integers of up
    /// to 15 digits (every expiry time) are read directly; the rest go through `Double(_:)`.
    static func number(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Double? {
        if !bytes.isEmpty, bytes.count <= 15, bytes.allSatisfy({ UInt8(ascii: "0")...UInt8(ascii: "9") ~= $0 }) {
            return Double(bytes.reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) })
        }
        return Double(String(decoding: bytes, as: UTF8.self))
    }

    /// Walks a flat object's fields in order, handing `field` each name's byte range and its
    /// value. False if the bytes are not a flat object or `field` returned false.
    static func scan(_ bytes: UnsafeBufferPointer<UInt8>, _ field: (Range<Int>, ScannedValue) -> Bool) -> Bool {
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
        func string() -> Range<Int>? {
            guard expect(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                if bytes[index] == UInt8(ascii: "\\") || bytes[index] < 0x20 { return nil }
                index += 1
            }
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return start..<index
        }
        func literal(_ word: StaticString) -> Bool {
            let utf8 = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
            guard index + utf8.count <= bytes.count, bytes[index..<(index + utf8.count)].elementsEqual(utf8) else {
                return false
            }
            index += utf8.count
            return true
        }
        guard expect(UInt8(ascii: "{")) else { return false }
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                guard let name = string(), expect(UInt8(ascii: ":")) else { return false }
                skipSpace()
                guard index < bytes.count else { return false }
                let value: ScannedValue
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    guard let text = string() else { return false }
                    value = .string(text)
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    let start = index
                    while index < bytes.count, "0123456789.eE+-".utf8.contains(bytes[index]) { index += 1 }
                    value = .number(start..<index)
                case UInt8(ascii: "t") where literal("true"): value = .bool(true)
                case UInt8(ascii: "f") where literal("false"): value = .bool(false)
                case UInt8(ascii: "n") where literal("null"): value = .null
                default: return false
                }
                guard field(name, value) else { return false }
                if expect(UInt8(ascii: ",")) { continue }
                guard expect(UInt8(ascii: "}")) else { return false }
                break
            }
        }
        skipSpace()
        return index == bytes.count
    }
}

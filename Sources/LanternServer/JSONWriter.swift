import Foundation
import Hummingbird

/// Writes small JSON objects straight into bytes, for the hottest responses where
/// `JSONEncoder` costs more than the rest of the request.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]

    init() { bytes.reserveCapacity(256) }

    mutating func beginObject(_ key: String? = nil) {
        if let key { writeKey(key) } else { separate() }
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    mutating func beginArray(_ key: String) {
        writeKey(key)
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma.removeLast()
    }

    mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma.removeLast()
    }

    mutating func field(_ key: String, _ value: String) {
        writeKey(key)
        writeString(value)
    }

    mutating func field(_ key: String, _ value: Int64) {
        writeKey(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func field(_ key: String, _ value: Int) {
        field(key, Int64(value))
    }

    /// A coordinate or other measured quantity, to six decimals.
    mutating func field(_ key: String, _ value: Double) {
        writeKey(key)
        bytes.append(contentsOf: String(format: "%.6f", value).utf8)
    }

    /// `"key":` followed by `json`, which must already be valid JSON (written by Lantern).
    mutating func raw(_ key: String, _ json: String) {
        writeKey(key)
        bytes.append(contentsOf: json.utf8)
    }

    /// `"key":null`.
    mutating func null(_ key: String) {
        writeKey(key)
        bytes.append(contentsOf: "null".utf8)
    }

    /// An array of strings.
    mutating func field(_ key: String, _ values: [String]) {
        beginArray(key)
        for value in values {
            separate()
            writeString(value)
        }
        endArray()
    }

    mutating func field(_ key: String, _ value: Bool) {
        writeKey(key)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// An RFC 3339 timestamp in UTC, to the second, as `JSONEncoder`'s `.iso8601` writes it.
    mutating func field(_ key: String, _ value: Date) {
        writeKey(key)
        bytes.append(UInt8(ascii: "\""))
        RFC3339.append(value, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func separate() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    private mutating func writeKey(_ key: String) {
        separate()
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
    }

    private mutating func writeString(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most strings need no escaping: append them whole.
        var text = value
        let appendedWhole = text.withUTF8 { utf8 in
            guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
                return false
            }
            bytes.append(contentsOf: utf8)
            return true
        }
        if appendedWhole {
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0..<0x20: bytes.append(contentsOf: Array(String(format: "\\u%04x", byte).utf8))
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// The bytes as a JSON response.
    func response(status: HTTPResponse.Status) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

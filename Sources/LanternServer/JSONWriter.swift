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
        writeString(RFC3339.format(value))
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

/// RFC 3339 timestamps in UTC without a formatter object.
enum RFC3339 {
    /// `YYYY-MM-DDTHH:MM:SSZ` for `date`, truncated to the second.
    static func format(_ date: Date) -> String {
        let seconds = Int64((date.timeIntervalSince1970).rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Civil-from-days (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let yearText = String(year)
        return String(repeating: "0", count: max(0, 4 - yearText.count)) + "\(yearText)-\(two(month))-\(two(day))T\(two(secondOfDay / 3600))"
            + ":\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))Z"
    }
}

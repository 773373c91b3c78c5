import NIOCore

/// An HTTP/1.1 request head read straight from a connection's bytes, as far as the claim fast
/// path needs it: where the request ends, and the few fields a claim is answered from.
///
/// The reading is strict on purpose. Anything it does not fully understand (another HTTP
/// version, a folded or malformed header line, `Transfer-Encoding`, `Upgrade`, two
/// `Content-Length`s) is `unsupported`, and the fast path then hands the connection to the
/// full HTTP decoder, which answers or rejects it as it always would.
struct WireRequestHead: Equatable {
    /// Bytes of the head, up to and including the blank line that ends it.
    var length: Int
    /// The request method, as sent.
    var method: String
    /// The request target, as sent.
    var target: String
    /// The body's length from `Content-Length` (0 when there is none).
    var contentLength: Int
    /// `Connection: close` was asked for.
    var closesConnection = false
    /// `Expect` was sent (the client may wait for an interim answer before sending the body).
    var expects = false
    /// `Authorization`, `Idempotency-Key` and `Queue-Ticket`, when each came exactly once.
    var authorization: String?
    var idempotencyKey: String?
    var queueTicket: String?
    /// One of the three fields above came more than once.
    var repeatsAField = false

    /// The most a head may take before it is left to the full decoder (which has its own limits).
    static let maxLength = 16 * 1024

    /// What reading the start of a buffer found.
    enum Reading: Equatable {
        /// The head has not fully arrived yet.
        case incomplete
        /// Not a head this reader handles: leave the connection to the full decoder.
        case unsupported
        /// A complete head.
        case head(WireRequestHead)
    }

    /// Reads the head at the start of `buffer`'s readable bytes, without consuming them.
    static func read(_ buffer: ByteBuffer) -> Reading {
        buffer.withUnsafeReadableBytes { read(UnsafeRawBufferPointer($0)) }
    }

    /// Reads the head at the start of `bytes`.
    static func read(_ bytes: UnsafeRawBufferPointer) -> Reading {
        let limit = min(bytes.count, maxLength)
        let lineEnd: Int
        switch Self.lineEnd(in: bytes, from: 0, limit: limit) {
        case .at(let end): lineEnd = end
        case .incomplete: return limit == maxLength ? .unsupported : .incomplete
        case .malformed: return .unsupported
        }
        let line = bytes[0..<lineEnd]
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].elementsEqual("HTTP/1.1".utf8), !parts[0].isEmpty, !parts[1].isEmpty,
            parts[0].allSatisfy(isTokenByte), parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return .unsupported }
        var head = WireRequestHead(
            length: 0, method: String(decoding: parts[0], as: UTF8.self), target: String(decoding: parts[1], as: UTF8.self),
            contentLength: 0)
        var sawContentLength = false
        var start = lineEnd + 2
        while true {
            let end: Int
            switch Self.lineEnd(in: bytes, from: start, limit: limit) {
            case .at(let found): end = found
            case .incomplete: return limit == maxLength ? .unsupported : .incomplete
            case .malformed: return .unsupported
            }
            if end == start {
                head.length = end + 2
                return .head(head)
            }
            let field = bytes[start..<end]
            start = end + 2
            guard let colon = field.firstIndex(of: UInt8(ascii: ":")), colon > field.startIndex,
                field[field.startIndex..<colon].allSatisfy(isTokenByte)
            else { return .unsupported }
            var value = field[(colon + 1)...]
            while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
            while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
            guard value.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }) else { return .unsupported }
            switch lowercased(field[field.startIndex..<colon]) {
            case "content-length":
                guard !sawContentLength, (1...18).contains(value.count), value.allSatisfy({ (0x30...0x39).contains($0) })
                else { return .unsupported }
                sawContentLength = true
                head.contentLength = value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            case "transfer-encoding", "upgrade":
                return .unsupported
            case "connection":
                if lowercased(value).split(separator: ",").contains(where: { $0.trimmingSpaces == "close" }) {
                    head.closesConnection = true
                }
            case "expect":
                head.expects = true
            case "authorization":
                head.set(\.authorization, value)
            case "idempotency-key":
                head.set(\.idempotencyKey, value)
            case "queue-ticket":
                head.set(\.queueTicket, value)
            default:
                break
            }
        }
    }

    private mutating func set(_ field: WritableKeyPath<WireRequestHead, String?>, _ value: Slice<UnsafeRawBufferPointer>) {
        if self[keyPath: field] != nil { repeatsAField = true }
        self[keyPath: field] = String(decoding: value, as: UTF8.self)
    }

    private enum LineEnd {
        /// The line's CR is at this index.
        case at(Int)
        /// No CRLF before `limit` yet.
        case incomplete
        /// A CR without LF, or an LF without CR.
        case malformed
    }

    /// Where the line starting at `start` ends.
    private static func lineEnd(in bytes: UnsafeRawBufferPointer, from start: Int, limit: Int) -> LineEnd {
        var index = start
        while index < limit {
            switch bytes[index] {
            case UInt8(ascii: "\r"):
                guard index + 1 < limit else { return .incomplete }
                return bytes[index + 1] == UInt8(ascii: "\n") ? .at(index) : .malformed
            case UInt8(ascii: "\n"):
                return .malformed
            default:
                index += 1
            }
        }
        return .incomplete
    }

    private static func lowercased(_ bytes: Slice<UnsafeRawBufferPointer>) -> String {
        String(decoding: bytes.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var trimmed = self
        while trimmed.first == " " || trimmed.first == "\t" { trimmed = trimmed.dropFirst() }
        while trimmed.last == " " || trimmed.last == "\t" { trimmed = trimmed.dropLast() }
        return trimmed
    }
}

/// The HTTP `Date` header's format (RFC 9110 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`).
enum HTTPDate {
    private static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The header value for a time in whole seconds since 1970 (UTC).
    static func format(secondsSince1970 seconds: Int) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let weekday = weekdays[((days % 7) + 7) % 7]
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(weekday), \(two(day)) \(months[month - 1]) \(year) \(two(secondOfDay / 3_600)):"
            + "\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) GMT"
    }
}

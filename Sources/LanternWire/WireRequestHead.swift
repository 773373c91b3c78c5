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
    /// `Authorization`, `Idempotency-Key`, `Queue-Ticket` and `Queue-Proof`, when each came exactly once.
    var authorization: String?
    var idempotencyKey: String?
    var queueTicket: String?
    var queueProof: String?
    /// One of the four fields above came more than once.
    var repeatsAField = false

    /// The most a head may take before it is left to the full decoder (which has its own limits).
    static let maxLength = 16 * 1024
    /// The most header fields a head this reader handles may have.
    static let maxFields = 64
    /// Methods NIO's decoder reads as sent; every other one (CONNECT, which turns the connection
    /// into a tunnel; WebDAV and other extensions, which it renames; anything it refuses) is left
    /// to it, with the rest of the connection.
    private static let plainMethods: [[UInt8]] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"].map { Array($0.utf8) }

    /// What reading the start of a buffer found.
    enum Reading: Equatable {
        /// The head has not fully arrived yet.
        case incomplete
        /// Not a head this reader handles: leave the connection to the full decoder.
        case unsupported
        /// A complete head.
        case head(WireRequestHead)
    }

    /// Where the search for a head's end got to.
    enum End: Equatable {
        /// No blank line yet in the first `searched` bytes.
        case notYet(searched: Int)
        /// The head ends after `length` bytes.
        case found(length: Int)
        /// A line ends with a bare LF or a CR stands alone: not a head this reader handles.
        case malformed
    }

    /// What the fast path does with the bytes at a request boundary.
    enum Framing: Equatable {
        /// Wait for more bytes; `searched` of them hold no head's end.
        case incomplete(searched: Int)
        /// Leave this request and everything after it to the full decoder.
        case handOver
        /// A head this path reads; its body is `contentLength` bytes after it.
        case request(WireRequestHead)
    }

    /// The one decision at a request boundary, used by the fast path and by the differential
    /// test that holds it against NIO's decoder: resumes the search for the head's end after
    /// `searchedBytes`, and reads the head once it has ended.
    static func frame(_ buffer: ByteBuffer, searchedBytes: Int) -> Framing {
        switch findEnd(buffer, searchedBytes: searchedBytes) {
        case .notYet(let searched):
            return searched < maxLength ? .incomplete(searched: searched) : .handOver
        case .malformed:
            return .handOver
        case .found:
            guard case .head(let head) = read(buffer) else { return .handOver }
            return .request(head)
        }
    }

    /// Looks for the blank line that ends the head at the start of `buffer`'s readable bytes,
    /// resuming after the first `searchedBytes`, which an earlier call searched already.
    static func findEnd(_ buffer: ByteBuffer, searchedBytes: Int) -> End {
        buffer.withUnsafeReadableBytes { bytes in
            let cr = UInt8(ascii: "\r")
            let lf = UInt8(ascii: "\n")
            // Back up over the bytes an earlier search could not judge: a CR at the very end, or
            // the start of a terminator that was cut off.
            var index = max(0, searchedBytes - 3)
            while index < bytes.count {
                switch bytes[index] {
                case lf:
                    guard index > 0, bytes[index - 1] == cr else { return .malformed }
                    if index >= 3, bytes[index - 2] == lf, bytes[index - 3] == cr { return .found(length: index + 1) }
                case cr:
                    if index + 1 < bytes.count, bytes[index + 1] != lf { return .malformed }
                default:
                    break
                }
                index += 1
            }
            return .notYet(searched: bytes.count)
        }
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
        guard let firstSpace = line.firstIndex(of: UInt8(ascii: " ")),
            let secondSpace = line[(firstSpace + 1)...].firstIndex(of: UInt8(ascii: " "))
        else { return .unsupported }
        let method = line[..<firstSpace]
        let target = line[(firstSpace + 1)..<secondSpace]
        guard line[(secondSpace + 1)...].elementsEqual("HTTP/1.1".utf8), !target.isEmpty,
            plainMethods.contains(where: { $0.elementsEqual(method) }), target.first == UInt8(ascii: "/"),
            target.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return .unsupported }
        var head = WireRequestHead(
            length: 0, method: String(decoding: method, as: UTF8.self), target: String(decoding: target, as: UTF8.self),
            contentLength: 0)
        var sawContentLength = false
        var start = lineEnd + 2
        var fields = 0
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
            fields += 1
            // A tab anywhere, or more fields than any client of this API sends, is for NIO to judge.
            guard fields <= maxFields, !field.contains(0x09) else { return .unsupported }
            guard let colon = field.firstIndex(of: UInt8(ascii: ":")), colon > field.startIndex,
                field[field.startIndex..<colon].allSatisfy(isTokenByte)
            else { return .unsupported }
            var value = field[(colon + 1)...]
            while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
            while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
            guard value.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }) else { return .unsupported }
            switch FieldName(field[field.startIndex..<colon]) {
            case .contentLength:
                guard !sawContentLength, (1...18).contains(value.count), value.allSatisfy({ (0x30...0x39).contains($0) }),
                    field.last != 0x20
                else { return .unsupported }
                sawContentLength = true
                head.contentLength = value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            case .transferEncoding, .upgrade:
                return .unsupported
            case .connection:
                if lowercased(value).split(separator: ",").contains(where: { $0.trimmingSpaces == "close" }) {
                    head.closesConnection = true
                }
            case .expect:
                head.expects = true
            case .authorization:
                Self.assign(value, to: &head.authorization, repeated: &head.repeatsAField)
            case .idempotencyKey:
                Self.assign(value, to: &head.idempotencyKey, repeated: &head.repeatsAField)
            case .queueTicket:
                Self.assign(value, to: &head.queueTicket, repeated: &head.repeatsAField)
            case .queueProof:
                Self.assign(value, to: &head.queueProof, repeated: &head.repeatsAField)
            case nil:
                break
            }
        }
    }

    /// Stores a field's value, noting when the field came before.
    private static func assign(_ value: Slice<UnsafeRawBufferPointer>, to field: inout String?, repeated: inout Bool) {
        if field != nil { repeated = true }
        field = String(decoding: value, as: UTF8.self)
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

    /// The header fields this reader looks at.
    private enum FieldName: String, CaseIterable {
        case contentLength = "content-length"
        case transferEncoding = "transfer-encoding"
        case upgrade
        case connection
        case expect
        case authorization
        case idempotencyKey = "idempotency-key"
        case queueTicket = "queue-ticket"
        case queueProof = "queue-proof"

        private static let spellings = allCases.map { ($0, Array($0.rawValue.utf8)) }

        /// The field a header name is, in any case; nil for the rest.
        init?(_ name: Slice<UnsafeRawBufferPointer>) {
            // Names are tokens, and these are letters and '-': setting the 0x20 bit lowercases a
            // letter and cannot turn another token byte into one of these.
            guard let match = Self.spellings.first(where: { spelling in
                spelling.1.count == name.count && zip(name, spelling.1).allSatisfy { $0 | 0x20 == $1 }
            }) else { return nil }
            self = match.0
        }
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

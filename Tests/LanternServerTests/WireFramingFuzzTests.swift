import LanternCatalog
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import LanternServer
@testable import LanternWire

/// The claim fast path reads request boundaries itself, in front of NIO's HTTP/1 decoder. These
/// tests hold the two against each other on random and mutated pipelined streams: wherever the
/// fast path frames a request (to answer it or to pass it on), NIO's decoder must find that same
/// request there, and the fast path must never frame a request NIO refuses or one after it.
@Suite("Fast path framing against NIO's decoder")
struct WireFramingFuzzTests {
    /// One request as either reader saw it.
    struct Framed: Equatable, CustomStringConvertible {
        var method: String
        var target: String
        var bodyLength: Int
        var description: String { "\(method) \(target) +\(bodyLength)" }
    }

    /// The requests the fast path frames from the start of `stream`, in order, until it hands the
    /// connection over, the stream ends, or a request asks to close.
    static func fastPath(_ stream: [UInt8]) -> [Framed] {
        var buffer = ByteBuffer(bytes: stream)
        var framed: [Framed] = []
        while buffer.readableBytes > 0 {
            guard case .request(let head) = WireRequestHead.frame(buffer, searchedBytes: 0),
                buffer.readableBytes >= head.length + head.contentLength
            else { break }
            framed.append(Framed(method: head.method, target: head.target, bodyLength: head.contentLength))
            buffer.moveReaderIndex(forwardBy: head.length + head.contentLength)
            if head.closesConnection { break }
        }
        return framed
    }

    /// The requests NIO's decoder completes from `stream` written in the given pieces, and
    /// whether it refused the stream (after those).
    static func nio(_ stream: [UInt8], cuts: [Int]) -> (requests: [Framed], refused: Bool) {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        defer { _ = try? channel.finish() }
        var requests: [Framed] = []
        var current: Framed?
        func drain() throws {
            while let part = try channel.readInbound(as: HTTPServerRequestPart.self) {
                switch part {
                case .head(let head): current = Framed(method: head.method.rawValue, target: head.uri, bodyLength: 0)
                case .body(let body): current?.bodyLength += body.readableBytes
                case .end:
                    if let done = current { requests.append(done) }
                    current = nil
                }
            }
        }
        var start = 0
        for cut in cuts + [stream.count] where cut > start {
            do {
                try channel.writeInbound(ByteBuffer(bytes: stream[start..<cut]))
                try drain()
            } catch {
                try? drain()
                return (requests, true)
            }
            start = cut
        }
        return (requests, false)
    }

    /// Request shapes, well-formed and not: what a client, a proxy or an attacker might send.
    static let shapes: [String] = [
        "POST /v1/campaigns/spring/claims HTTP/1.1\r\nHost: l\r\nAuthorization: Bearer a.b.c\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/campaigns/spring/claims HTTP/1.1\r\nHost: l\r\nAuthorization: Bearer a.b.c\r\nIdempotency-Key: k\r\nContent-Length: 0\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: l\r\n\r\n",
        "GET /v1/me/cards HTTP/1.1\r\nHost: l\r\nAuthorization: Bearer x\r\n\r\n",
        "POST /v1/orders HTTP/1.1\r\nHost: l\r\nContent-Length: 5\r\n\r\nhello",
        "DELETE /v1/x HTTP/1.1\r\nHost: l\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: l\r\n\r\n",
        "GET http://l/healthz HTTP/1.1\r\nHost: l\r\n\r\n",
        "FOO / HTTP/1.1\r\nHost: l\r\n\r\n",
        "PRI * HTTP/1.1\r\nHost: l\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "CONNECT l:443 HTTP/1.1\r\nHost: l:443\r\n\r\n",
        "get /healthz HTTP/1.1\r\nHost: l\r\n\r\n",
        "PROPFIND / HTTP/1.1\r\nHost: l\r\n\r\n",
        "M-SEARCH * HTTP/1.1\r\nHost: l\r\n\r\n",
        "POST /v1/orders HTTP/1.1\r\nHost: l\r\nContent-Length: 2\t\r\n\r\nab",
        "POST /v1/orders HTTP/1.1\r\nHost: l\r\nContent-Length: 0\t\r\n\r\n",
        "POST /v1/orders HTTP/1.1\r\nHost: l\r\nContent-Length:  3  \r\n\r\nabc",
        "POST /v1/orders HTTP/1.1\r\nHost: l\r\nContent-Length: +3\r\n\r\nabc",
        "POST /v1/orders HTTP/1.1\r\nHost: l\r\nContent-Length: 03\r\n\r\nabc",
        "POST /v1/orders HTTP/1.1\r\nHost: l\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        "POST /v1/orders HTTP/1.1\r\nHost: l\r\nContent-Length : 3\r\n\r\nabc",
        "POST /v1/orders HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "POST /v1/orders HTTP/1.1\r\nHost: l\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: l\r\nX-Folded: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: l\r\nNoColon\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: l\r\n: empty\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: l\r\nX-High: caf\u{E9}\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: l\r\nX-Tab: a\tb\r\n\r\n",
        "GET / HTTP/1.0\r\nHost: l\r\n\r\n",
        "GET / HTTP/1.1\nHost: l\n\n",
        "GET / HTTP/1.1\r\nHost: l\r\r\n\r\n",
        "GET /a b HTTP/1.1\r\nHost: l\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: l\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "POST /v1/campaigns/spring/claims HTTP/1.1\r\nHost: l\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}",
        "GET / HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: 1_001) + "\r\n",
        "GET / HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: 90) + "\r\n",
    ]

    /// The first shapes are requests any client of this API sends, which both readers must frame
    /// alike; the one before this index asks to close.
    static let plainShapes = 7

    @Test("random pipelines of plain requests are framed exactly as NIO frames them, cut anywhere")
    func plainPipelines() async {
        var random = SplitMix64(seed: 18)
        for round in 0..<500 {
            await Self.shareThePool(round)
            let stream = Self.stream(&random, from: 0..<Self.plainShapes - 1, mutate: false)
            let cuts = Self.cuts(&random, count: stream.count)
            let ours = Self.fastPath(stream)
            let theirs = Self.nio(stream, cuts: cuts)
            #expect(!theirs.refused, "round \(round)")
            #expect(ours == theirs.requests, "round \(round): \(String(decoding: stream, as: UTF8.self).debugDescription)")
        }
    }

    @Test("random and mutated pipelines: the fast path frames only what NIO frames the same way, and nothing it refuses")
    func mutatedPipelines() async {
        var random = SplitMix64(seed: 19)
        var disagreements: [String] = []
        for round in 0..<20_000 {
            await Self.shareThePool(round)
            let stream = Self.stream(&random, from: 0..<Self.shapes.count, mutate: round % 2 == 1)
            let cuts = Self.cuts(&random, count: stream.count)
            let ours = Self.fastPath(stream)
            let theirs = Self.nio(stream, cuts: cuts)
            let agrees = ours.count <= theirs.requests.count && zip(ours, theirs.requests).allSatisfy { $0 == $1 }
            if !agrees, disagreements.count < 5 {
                disagreements.append(
                    "fast path \(ours), NIO \(theirs.requests)\(theirs.refused ? " then refused" : ""): "
                        + String(decoding: stream, as: UTF8.self).debugDescription)
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.joined(separator: "\n"))")
    }

    /// Lets the suite's other tasks run every hundred rounds: the tests share the cooperative
    /// pool, which has a thread per core, and on two cores a loop that never yields holds half of
    /// it for its whole run, so every other test's server answers late.
    private static func shareThePool(_ round: Int) async {
        if round % 100 == 99 { await Task.yield() }
    }

    /// One to six requests, each a shape (sometimes with a byte changed, added or removed).
    private static func stream(_ random: inout SplitMix64, from range: Range<Int>, mutate: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        for _ in 0...(random.next() % 6) {
            bytes += Array(shapes[range.lowerBound + Int(random.next() % UInt64(range.count))].utf8)
        }
        if mutate, !bytes.isEmpty {
            let alphabet: [UInt8] = Array("\r\n \t:0123456789AaZz/-".utf8) + [0x00, 0x7F, 0x80, 0xFF]
            for _ in 0...(random.next() % 3) {
                let at = Int(random.next() % UInt64(bytes.count))
                let byte = alphabet[Int(random.next() % UInt64(alphabet.count))]
                switch random.next() % 3 {
                case 0: bytes[at] = byte
                case 1: bytes.insert(byte, at: at)
                default: bytes.remove(at: at)
                }
                if bytes.isEmpty { break }
            }
        }
        return bytes
    }

    /// Up to four random places to cut a stream of `count` bytes into pieces.
    private static func cuts(_ random: inout SplitMix64, count: Int) -> [Int] {
        guard count > 1 else { return [] }
        return (0..<(random.next() % 5)).map { _ in 1 + Int(random.next() % UInt64(count - 1)) }.sorted()
    }
}

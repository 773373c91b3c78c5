import Foundation
import Glibc
import HTTPTypes
import LanternApp
import LanternLedger
import LanternStorage
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Synchronization
import Testing

@testable import LanternServer
@testable import LanternWire
@testable import LanternStorage

/// `ClaimFastPath` in a channel of its own, in front of NIO's HTTP/1 decoder and encoder as in
/// the server: which requests it answers itself, which it hands on to the router (what the
/// channel reads in, decoded), and in what order answers leave.
@Suite("Claims answered on the event loop")
struct ClaimFastPathTests {
    @Test("a user's claim is answered from the bytes and never reaches the router; the card is durable")
    func answersAClaimItself() async throws {
        try await withFastPath { path in
            try await path.send(path.claim(user: "ann", key: "k1"))
            let answer = try await path.answer()
            #expect(answer.status == 201)
            #expect(answer.headers["content-type"] == "application/json; charset=utf-8")
            #expect(answer.headers["content-length"] == String(answer.body.count))
            #expect(answer.headers["x-request-id"] != nil)
            #expect(answer.headers["date"]?.hasSuffix(" GMT") == true)
            #expect((answer.json["card"]?["id"] as? String)?.hasPrefix("spring:ann:") == true)
            #expect(answer.json["card"]?["state"] as? String == "active")
            #expect(try await path.routed().isEmpty)
            #expect(try path.engine.read { $0.cards(of: "ann").count } == 1)
            // The same key again replays, still without the router.
            try await path.send(path.claim(user: "ann", key: "k1"))
            let replay = try await path.answer()
            #expect(replay.status == 201)
            #expect(replay.headers["idempotent-replayed"] == "true")
            #expect(try await path.routed().isEmpty)
            // Every answer has its own request id: a hex prefix, then a 16-digit hex counter.
            let ids = [answer, replay].compactMap { $0.headers["x-request-id"] }
            #expect(ids.count == 2 && ids[0] != ids[1])
            for id in ids { #expect(id.count > 16 && id.allSatisfy(\.isHexDigit), "\(id)") }
        }
    }

    @Test("a read the path answers whole is not announced behind it; one that reaches the router is")
    func announcesOnlyReadsItPassesOn() async throws {
        try await withFastPath { path in
            try await path.send(path.claim(user: "ida", key: "k"))
            #expect(try await path.answer().status == 201)
            #expect(path.events.readCompletions == 0)
            try await path.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            #expect(path.events.readCompletions == 1)
            #expect(try await path.routed().count == 2)
            try await path.routerAnswers()
            // A claim after the router's answer is again the path's alone.
            try await path.send(path.claim(user: "jan", key: "k"))
            #expect(try await path.answer().status == 201)
            #expect(path.events.readCompletions == 1)
        }
    }

    @Test("a claim that arrives a few bytes at a time is answered once it is whole")
    func readsAClaimInPieces() async throws {
        try await withFastPath { path in
            let bytes = Array(try await path.claim(user: "gus", key: "k").utf8)
            for start in stride(from: 0, to: bytes.count, by: 7) {
                try await path.channel.writeInbound(ByteBuffer(bytes: bytes[start..<min(start + 7, bytes.count)]))
            }
            #expect(try await path.answer().status == 201)
            #expect(try await path.routed().isEmpty)
        }
    }

    @Test("claims it cannot vouch for go to the router whole: no token, another role, another route, Expect, a repeated key")
    func handsOnWhatItDoesNotAnswer() async throws {
        try await withFastPath { path in
            let admin = try await path.tokens.mint(Identity(userID: "ops", role: .admin))
            for (index, (request, target)) in [
                (try await path.claim(user: "ann", key: "k", token: .none), "/v1/campaigns/spring/claims"),
                (try await path.claim(user: "ops", key: "k", token: .given(admin)), "/v1/campaigns/spring/claims"),
                (try await path.claim(user: "ann", key: "k", target: "/v1/campaigns/spring/claims?x=1"), "/v1/campaigns/spring/claims?x=1"),
                (try await path.claim(user: "ann", key: "k", method: "PUT"), "/v1/campaigns/spring/claims"),
                (try await path.claim(user: "ann", key: "k", extra: "Expect: 100-continue\r\n"), "/v1/campaigns/spring/claims"),
                (try await path.claim(user: "ann", key: "k", extra: "Idempotency-Key: k2\r\n"), "/v1/campaigns/spring/claims"),
            ].enumerated() {
                try await path.send(request)
                let routed = try await path.routed()
                #expect(routed.count == 3, "head, body and end reach the router")
                if case .head(let head) = routed.first { #expect(head.path == target) } else { Issue.record("no head") }
                if case .body(let body) = routed.dropFirst().first { #expect(String(buffer: body) == "{}") }
                // The router's answer passes out; the next request is this path's again.
                try await path.routerAnswers()
                try await path.send(path.claim(user: "zed\(index)", key: "k"))
                #expect(try await path.answer().status == 201)
            }
            #expect(try path.engine.read { $0.account("spring")!.cardsIssued } == 6, "one for each claim sent after the router's answers")
        }
    }

    @Test("a head it cannot read with certainty hands the connection to the full decoder for good")
    func handsOverWhatItCannotRead() async throws {
        try await withFastPath { path in
            try await path.send("POST /v1/orders HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
            #expect(try await path.routed().count == 3, "head, body and end")
            try await path.routerAnswers()
            // Even a good claim now goes to the router.
            try await path.send(path.claim(user: "hal", key: "k"))
            #expect(try await path.routed().count == 3)
            #expect(try path.engine.read { $0.cards(of: "hal").isEmpty })
        }
        try await withFastPath { path in
            // A malformed head reaches the decoder, which rejects it as it would without this path.
            await #expect(throws: (any Error).self) { try await path.send("POST /v1/campaigns/spring/claims HTTP/1.1\rX\n\r\n") }
        }
    }

    @Test("answers leave in request order: a request behind a waiting claim waits, a claim behind a routed request waits")
    func keepsAnswersInOrder() async throws {
        try await withFastPath { path in
            // A claim, then a request for the router, sent back to back.
            let cards = "GET /v1/me/cards HTTP/1.1\r\nHost: localhost\r\n\r\n"
            try await path.send(path.claim(user: "bea", key: "k1") + cards)
            let claimAnswer = try await path.answer()
            #expect(claimAnswer.status == 201)
            #expect(try await path.routed().count == 2, "the held request reaches the router after the claim's answer")
            // While the router has not answered, a pipelined claim is not answered ahead of it.
            try await path.send(path.claim(user: "cid", key: "k2"))
            #expect(try await path.routed().isEmpty)
            #expect(try path.engine.read { $0.cards(of: "cid").count } == 0)
            try await path.routerAnswers()
            #expect(try await path.answer().status == 201, "then it is this path's again")
            #expect(try await path.routed().isEmpty)
        }
    }

    @Test("reading goes on while one claim waits for its commit, and pauses while later requests wait behind it")
    func pausesReadingOnlyWhenRequestsPileUp() async throws {
        try await withFastPath { path in
            path.store.close()
            try await path.send(path.claim(user: "fay", key: "k"))
            var before = path.reads.count
            path.channel.read()
            try await path.channel.testingEventLoop.executeInContext {}
            #expect(path.reads.count == before + 1, "nothing waits here: reading goes on")
            try await path.send(path.claim(user: "gil", key: "k"))
            before = path.reads.count
            path.channel.read()
            try await path.channel.testingEventLoop.executeInContext {}
            #expect(path.reads.count == before, "a claim waits behind the first: no more reading")
            path.store.open()
            #expect(try await path.answer().status == 201)
            #expect(try await path.answer().status == 201)
            try await path.channel.testingEventLoop.executeInContext {}
            #expect(path.reads.count == before + 1)
        }
    }

    @Test("a claim asking to close the connection goes to the router, and so does the rest of the connection")
    func closingClaimsGoToTheRouter() async throws {
        try await withFastPath { path in
            try await path.send(path.claim(user: "ida", key: "k", extra: "Connection: close\r\n"))
            #expect(try await path.routed().count == 3)
            #expect(try path.engine.read { $0.cards(of: "ida").isEmpty })
        }
    }

    @Test("a server shutting down does not see the connection idle while a claim waits for its commit")
    func holdsShutdownWhileAClaimWaits() async throws {
        try await withFastPath { path in
            // Between requests the news passes straight on.
            path.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            try await path.channel.testingEventLoop.executeInContext {}
            #expect(path.events.count == 1)
            path.store.close()
            try await path.send(path.claim(user: "jon", key: "k"))
            path.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            try await path.channel.testingEventLoop.executeInContext {}
            #expect(path.events.count == 1, "held while the claim waits")
            path.store.open()
            #expect(try await path.answer().status == 201)
            try await path.channel.testingEventLoop.executeInContext {}
            #expect(path.events.count == 2, "passed on once the claim is answered")
        }
    }

    @Test("a claim waiting behind a routed request is dropped, not carried out, when the router closes after answering")
    func closeAfterTheRoutersAnswerDropsWhatWaits() async throws {
        try await withFastPath { path in
            try await path.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n" + (try await path.claim(user: "kim", key: "k")))
            #expect(try await path.routed().count == 2)
            // As Hummingbird does for a request it refuses: its answer, then close, in one go on the loop.
            try await path.channel.eventLoop.submit {
                path.channel.write(HTTPResponsePart.head(HTTPResponse(status: .badRequest, headerFields: [.contentLength: "0"])), promise: nil)
                path.channel.writeAndFlush(HTTPResponsePart.end(nil), promise: nil)
                path.channel.close(promise: nil)
            }.get()
            var written: [UInt8] = []
            while case .byteBuffer(let buffer)? = try await path.channel.readOutbound(as: IOData.self) { written += buffer.readableBytesView }
            #expect(HTTPReply.parse(written)?.0.status == 400)
            #expect(HTTPReply.parse(written)?.1 == written.count, "nothing after the router's answer")
            // Whatever the loop had queued has run; a claim through the engine commits after any it had.
            try await path.channel.eventLoop.submit {}.get()
            _ = try await path.engine.claim(
                ClaimRequest(
                    campaign: "spring", user: "lee", referralCode: nil,
                    claimKey: ClaimKey(key: "k", digest: BodyDigest(high: 1, low: 1))))
            #expect(try path.engine.read { $0.cards(of: "kim").isEmpty })
        }
    }

    @Test("a body over the limit goes to the router whole")
    func oversizedBodiesGoToTheRouter() async throws {
        try await withFastPath { path in
            let body = String(repeating: " ", count: JSONBody.maxBodyBytes + 1)
            try await path.send(path.claim(user: "eve", key: "k", body: body))
            let routed = try await path.routed()
            let bodyBytes = routed.reduce(0) { total, part in
                if case .body(let chunk) = part { return total + chunk.readableBytes }
                return total
            }
            #expect(bodyBytes == JSONBody.maxBodyBytes + 1)
            #expect(try path.engine.read { $0.cards(of: "eve").isEmpty })
        }
    }
}

@Suite("Claims over one pipelined connection")
struct PipelinedClaimTests {
    @Test("a claim, a request for the router and a second claim sent in one write are answered in that order")
    func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withTestApp(.sqlite, over: .live) { app in
            _ = try await app.createCampaign()
            let port = try #require(app.client.port)
            let token = try await app.token("ann")
            func claim(_ key: String) -> String {
                "POST /v1/campaigns/spring/claims HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(token)\r\n"
                    + "Idempotency-Key: \(key)\r\nContent-Length: 2\r\n\r\n{}"
            }
            let cards = "GET /v1/me/cards HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(token)\r\n\r\n"
            let stream = claim("k1") + cards + claim("k2")
            let replies = try await offPool { try RawConnection(port: port).exchange(stream, answers: 3) }
            #expect(replies.map(\.status) == [201, 200, 409])
            let card = try #require(
                (try JSONSerialization.jsonObject(with: Data(replies[0].body)) as? [String: [String: Any]])?["card"]?["id"]
                    as? String)
            #expect(String(decoding: replies[1].body, as: UTF8.self).contains(card), "the router's answer sees the card")
        }
    }
}

/// A blocking TCP connection to the test server on loopback, for sending requests back to back.
@Suite("The fast path and the router answer alike")
struct FastPathAgreementTests {
    /// What of an answer must not depend on which path gave it: the status, the fields a client
    /// acts on, and the body with its timestamps left out.
    struct Seen: Equatable, CustomStringConvertible {
        var status: Int
        var fields: [String: String]
        var body: String
        var description: String { "\(status) \(fields.sorted { $0.key < $1.key }) \(body)" }

        init(_ reply: HTTPReply) {
            status = reply.status
            fields = reply.headers.filter { ["content-type", "idempotent-replayed", "retry-after", "location"].contains($0.key) }
            func strip(_ value: Any) -> Any {
                if let object = value as? [String: Any] {
                    return object.filter { !$0.key.hasSuffix("_at") }.mapValues(strip)
                }
                if let array = value as? [Any] { return array.map(strip) }
                return value
            }
            let json = (try? JSONSerialization.jsonObject(with: Data(reply.body))).map(strip)
            body = json.flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }
                .map { String(decoding: $0, as: UTF8.self) } ?? String(decoding: reply.body, as: UTF8.self)
        }
    }

    /// Every kind of claim a client sends, one connection each, then pipelined ones, a claim
    /// pipelined behind a request NIO refuses, and what the ledger holds afterwards.
    static func script(_ app: TestApp) async throws -> [String] {
        _ = try await app.createCampaign(cap: 1)
        let port = try #require(app.client.port)
        let ann = try await app.token("ann"), bob = try await app.token("bob"), ops = try await app.token("ops", role: .admin)
        func claim(_ token: String, campaign: String = "spring", key: String? = "k1", body: String = "{}", extra: String = "") -> String {
            "POST /v1/campaigns/\(campaign)/claims HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(token)\r\n"
                + (key.map { "Idempotency-Key: \($0)\r\n" } ?? "") + extra + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        }
        var seen: [String] = []
        for request in [
            claim(ann), claim(ann), claim(ann, key: "k2"), claim(bob, campaign: "nope"), claim("not.a.token"),
            claim(bob, body: "{"), claim(bob, body: "[1]"), claim(bob, key: nil), claim(bob, key: String(repeating: "k", count: 300)),
            claim(ops), claim(bob, key: "b1", extra: "Queue-Ticket: forged\r\n"), claim(bob, key: "b1"),
        ] {
            seen += try await offPool { try RawConnection(port: port).exchange(request, answers: 1) }.map { Seen($0).description }
        }
        let cat = claim(try await app.token("cat"), key: "c1") + "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
            + claim(try await app.token("cat"), key: "c2")
        let pipelined = try await offPool { try RawConnection(port: port).exchange(cat, answers: 3) }
        seen += pipelined.map { Seen($0).description }
        // NIO refuses the first request and closes: the claim behind it must not be carried out.
        for refused in ["FOO / HTTP/1.1\r\nHost: l\r\n\r\n", "GET / HTTP/1.1\r\nHost: l\r\nContent-Length: 0\t\r\n\r\n",
                        "CONNECT l:443 HTTP/1.1\r\nHost: l\r\n\r\n"] {
            let stream = refused + claim(try await app.token("dan"), key: "d")
            let replies = try await offPool { try RawConnection(port: port).exchangeUntilClosed(stream) }
            seen.append("\(replies.map(\.status)) then closed")
        }
        let dan = try await app.send(.get, "/v1/me/cards", as: "dan")
        seen.append("dan holds \((dan.json["cards"] as? [Any])?.count ?? -1) cards")
        return seen
    }

    @Test("the same claims get the same answers, and leave the same ledger, with the fast path on and off")
    func sameAnswers() async throws {
        let fast = try await withTestApp(.sqlite, over: .live, claimFastPath: true) { try await Self.script($0) }
        let routed = try await withTestApp(.sqlite, over: .live, claimFastPath: false) { try await Self.script($0) }
        #expect(fast.count == routed.count)
        for (index, (a, b)) in zip(fast, routed).enumerated() { #expect(a == b, "request \(index): fast path \(a), router \(b)") }
        #expect(routed.last == "dan holds 0 cards")
    }
}

/// Runs blocking socket calls on a thread of their own: on the cooperative pool they would
/// starve the server's router tasks of its two threads.
private func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

private struct RawConnection {
    enum Failure: Error { case connect, send, closed }

    let socket: Int32

    init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw Failure.connect }
    }

    /// Sends `text` in one write, then reads `answers` whole responses (Content-Length bodies).
    func exchange(_ text: String, answers: Int) throws -> [HTTPReply] {
        defer { close(socket) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ send(socket, $0.baseAddress, $0.count, 0) }) == bytes.count else {
            throw Failure.send
        }
        var received: [UInt8] = []
        var replies: [HTTPReply] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while replies.count < answers {
            if let (reply, length) = HTTPReply.parse(received) {
                replies.append(reply)
                received.removeFirst(length)
                continue
            }
            let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw Failure.closed }
            received += chunk[..<count]
        }
        return replies
    }

    /// Sends `text` in one write, says it has nothing more to send, and reads whole responses
    /// until the server closes.
    func exchangeUntilClosed(_ text: String) throws -> [HTTPReply] {
        defer { close(socket) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ send(socket, $0.baseAddress, $0.count, 0) }) == bytes.count else {
            throw Failure.send
        }
        shutdown(socket, Int32(SHUT_WR))
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            received += chunk[..<count]
        }
        var replies: [HTTPReply] = []
        while let (reply, length) = HTTPReply.parse(received) {
            replies.append(reply)
            received.removeFirst(length)
        }
        return replies
    }
}

/// An HTTP/1.1 response read from bytes.
struct HTTPReply {
    var status: Int
    /// Header fields by lowercased name.
    var headers: [String: String]
    var body: [UInt8]

    var json: [String: [String: Any]] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: [String: Any]] ?? [:]
    }

    /// The first whole response in `bytes` (with a Content-Length body) and how many bytes it took.
    static func parse(_ bytes: [UInt8]) -> (HTTPReply, Int)? {
        let separator = Array("\r\n\r\n".utf8)
        guard let end = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else {
            return nil
        }
        let head = String(decoding: bytes[..<end], as: UTF8.self).split(separator: "\r\n")
        guard let statusLine = head.first, let status = Int(statusLine.split(separator: " ")[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        let total = end + 4 + (headers["content-length"].flatMap { Int($0) } ?? 0)
        guard bytes.count >= total else { return nil }
        return (HTTPReply(status: status, headers: headers, body: Array(bytes[(end + 4)..<total])), total)
    }
}

/// A `ClaimFastPath` in a test channel, in front of NIO's HTTP/1 server handlers, over a real
/// engine with a campaign `spring`.
private struct FastPathRig: Sendable {
    let channel: NIOAsyncTestingChannel
    let engine: LedgerEngine
    let tokens: TokenAuthority
    let store: GatedStore
    let reads: ReadCounter
    let events: EventCounter
    let written = WrittenBytes()

    /// The `Authorization` a test request carries.
    enum Bearer {
        /// A fresh user token for the claiming user.
        case minted
        /// This token.
        case given(String)
        /// None.
        case none
    }

    /// A claim's bytes.
    func claim(
        user: String, key: String, token: Bearer = .minted, method: String = "POST",
        target: String = "/v1/campaigns/spring/claims", extra: String = "", body: String = "{}"
    ) async throws -> String {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\nIdempotency-Key: \(key)\r\n"
        switch token {
        case .minted: head += "Authorization: Bearer \(try await tokens.mint(Identity(userID: user, role: .user)))\r\n"
        case .given(let given): head += "Authorization: Bearer \(given)\r\n"
        case .none: break
        }
        return head + extra + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
    }

    func send(_ bytes: String) async throws {
        try await channel.writeInbound(ByteBuffer(string: bytes))
    }

    /// The next answer written to the connection.
    func answer() async throws -> HTTPReply {
        while true {
            if let reply = written.bytes.withLock({ bytes -> HTTPReply? in
                guard let (reply, length) = HTTPReply.parse(bytes) else { return nil }
                bytes.removeFirst(length)
                return reply
            }) {
                return reply
            }
            let chunk: [UInt8] =
                switch try await channel.waitForOutboundWrite(as: IOData.self) {
                case .byteBuffer(let buffer): Array(buffer.readableBytesView)
                case .fileRegion: throw RigError.unexpectedWrite
                }
            written.bytes.withLock { $0 += chunk }
        }
    }

    /// What has reached the router so far.
    func routed() async throws -> [HTTPRequestPart] {
        var parts: [HTTPRequestPart] = []
        while let part = try await channel.readInbound(as: HTTPRequestPart.self) { parts.append(part) }
        return parts
    }

    /// Writes an answer as the router would, through the pipeline, and takes its bytes.
    func routerAnswers() async throws {
        try await channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok, headerFields: [.contentLength: "0"])))
        try await channel.writeOutbound(HTTPResponsePart.end(nil))
        #expect(try await answer().status == 200)
    }

    enum RigError: Error { case unexpectedWrite }
}

/// Counts the events and read completions that reach the end of the pipeline (where
/// Hummingbird's connection handler would close an idle connection on a quiesce event, and
/// hands what was read to the router on a read completion).
private final class EventCounter: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    private let counted = Mutex((events: 0, readCompletions: 0))

    var count: Int { counted.withLock { $0.events } }
    var readCompletions: Int { counted.withLock { $0.readCompletions } }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        counted.withLock { $0.events += 1 }
        context.fireUserInboundEventTriggered(event)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        counted.withLock { $0.readCompletions += 1 }
        context.fireChannelReadComplete()
    }
}

/// Bytes written to the test connection and not yet read as answers.
private final class WrittenBytes: Sendable {
    let bytes = Mutex<[UInt8]>([])
}

/// A SQLite store whose commits can be held back.
private final class GatedStore: LedgerStore {
    private let inner: any LedgerStore
    private let gate = Mutex((open: true, waiting: [CheckedContinuation<Void, Never>]()))

    init(_ inner: any LedgerStore) { self.inner = inner }

    /// Holds back every commit from now on.
    func close() { gate.withLock { $0.open = false } }

    /// Lets held and later commits through.
    func open() {
        for waiting in gate.withLock({ gate in
            gate.open = true
            defer { gate.waiting = [] }
            return gate.waiting
        }) { waiting.resume() }
    }

    func append(_ events: [LedgerEvent]) async throws {
        await withCheckedContinuation { continuation in
            let passes = gate.withLock { gate in
                if !gate.open { gate.waiting.append(continuation) }
                return gate.open
            }
            if passes { continuation.resume() }
        }
        try await inner.append(events)
    }

    func loadJournal() async throws -> [[LedgerEvent]] { try await inner.loadJournal() }
    func ping() async throws { try await inner.ping() }
    func saveState(_ value: [UInt8], key: String) async throws { try await inner.saveState(value, key: key) }
    func loadState(key: String) async throws -> [UInt8]? { try await inner.loadState(key: key) }
    func deleteState(prefix: String, savedBeforeMs ms: Int64) async throws -> Int {
        try await inner.deleteState(prefix: prefix, savedBeforeMs: ms)
    }
    func eraseAddresses(endedBeforeMs ms: Int64) async throws -> Int { try await inner.eraseAddresses(endedBeforeMs: ms) }
    func appendAudit(_ entry: AuditEntry) async throws { try await inner.appendAudit(entry) }
    func loadAudit(limit: Int) async throws -> [AuditEntry] { try await inner.loadAudit(limit: limit) }
}

/// Counts the reads the handlers behind it ask the channel for.
private final class ReadCounter: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = Never
    private let counted = Mutex(0)

    var count: Int { counted.withLock { $0 } }

    func read(context: ChannelHandlerContext) {
        counted.withLock { $0 += 1 }
        context.read()
    }
}

private func withFastPath(_ body: @Sendable @escaping (FastPathRig) async throws -> Void) async throws {
    let store = try await TestStore.make(.sqlite)
    let plain = try openStore(store.location, logger: quietLogger)
    let gated = GatedStore(plain.store)
    let opened = OpenedStore(store: gated, services: plain.services, prepare: plain.prepare)
    do {
        try await opened.withEngine(logger: quietLogger) { engine in
            _ = try await engine.createCampaign(
                Campaign(
                    id: "spring", name: "Spring", budgetFen: 100 * 2_500, cardValueFen: 2_500, maxCardsPerUser: 1,
                    startsAt: Date().addingTimeInterval(-60), endsAt: Date().addingTimeInterval(3_600),
                    cardsExpireAt: Date().addingTimeInterval(7_200))
            ).get()
            let tokens = try await TokenAuthority(secret: testSecret)
            let admission = AdmissionControl(AdmissionConfiguration(enabled: false, ticketSecret: testSecret))
            let channel = NIOAsyncTestingChannel()
            let reads = ReadCounter()
            try await channel.pipeline.addHandler(reads)
            try await channel.pipeline.addHandler(
                ClaimFastPath(
                    desk: ClaimWireDesk(desk: ClaimDesk(engine: engine, admission: admission), tokens: tokens, metrics: LanternMetrics()),
                    serverName: "Lantern", maxBodyBytes: JSONBody.maxBodyBytes, formatDate: { HTTPDate.format(secondsSince1970: $0) },
                    logger: quietLogger))
            let events = EventCounter()
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                    withPipeliningAssistance: false, withErrorHandling: false)
                try channel.pipeline.syncOperations.addHandlers(
                    HTTP1ToHTTPServerCodec(secure: false), RouterAnswerWatch(), events)
            }.get()
            try await body(
                FastPathRig(channel: channel, engine: engine, tokens: tokens, store: gated, reads: reads, events: events))
            _ = try? await channel.finish()
        }
    } catch {
        try? await store.remove()
        throw error
    }
    try await store.remove()
}

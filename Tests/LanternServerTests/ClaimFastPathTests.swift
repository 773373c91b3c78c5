import Foundation
import HTTPTypes
import LanternLedger
import LanternStorage
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Synchronization
import Testing

@testable import LanternServer
@testable import LanternStorage

/// `ClaimFastPath` in a channel of its own: which requests it answers itself, which it hands on
/// to the router (what the channel reads in), and in what order answers leave.
@Suite("Claims answered on the event loop")
struct ClaimFastPathTests {
    @Test("a user's claim is answered in the pipeline and never reaches the router; the card is durable")
    func answersAClaimItself() async throws {
        try await withFastPath { path in
            try await path.send(path.claim(user: "ann", key: "k1"))
            let answer = try await path.answer()
            #expect(answer.head.status == .created)
            #expect(answer.head.headerFields[.contentType] == "application/json; charset=utf-8")
            #expect(answer.head.headerFields[.contentLength] == String(answer.body.count))
            #expect(answer.head.headerFields[.requestID] != nil)
            #expect((answer.json["card"]?["id"] as? String)?.hasPrefix("spring:ann:") == true)
            #expect(answer.json["card"]?["state"] as? String == "active")
            #expect(try await path.routed().isEmpty)
            #expect(try path.engine.read { $0.cards(of: "ann").count } == 1)
            // The same key again replays, still without the router.
            try await path.send(path.claim(user: "ann", key: "k1"))
            let replay = try await path.answer()
            #expect(replay.head.status == .created)
            #expect(replay.head.headerFields[.idempotentReplayed] == "true")
            #expect(try await path.routed().isEmpty)
        }
    }

    @Test("claims it cannot vouch for go to the router whole: no token, another role, another route")
    func handsOnWhatItDoesNotAnswer() async throws {
        try await withFastPath { path in
            let admin = try await path.tokens.mint(Identity(userID: "ops", role: .admin))
            for request in [
                try await path.claim(user: "ann", key: "k", token: .none),
                try await path.claim(user: "ops", key: "k", token: .given(admin)),
                try await path.claim(user: "ann", key: "k", path: "/v1/campaigns/spring/claims?x=1"),
                try await path.claim(user: "ann", key: "k", method: .get, path: "/v1/me/cards"),
            ] {
                try await path.send(request)
                let routed = try await path.routed()
                #expect(routed.count == 3, "head, body and end reach the router")
                if case .head(let head) = routed.first { #expect(head == request.head) } else { Issue.record("no head") }
                // The router's answer passes out; the next request is this path's again.
                try await path.routerAnswers()
            }
            #expect(try path.engine.read { $0.account("spring")!.cardsIssued } == 0)
        }
    }

    @Test("answers leave in request order: a request behind a waiting claim waits, a claim behind a routed request waits")
    func keepsAnswersInOrder() async throws {
        try await withFastPath { path in
            // A claim, then a request for the router, sent back to back.
            try await path.send(path.claim(user: "bea", key: "k1"))
            try await path.send(path.claim(user: "bea", key: "k", method: .get, path: "/v1/me/cards"))
            let claimAnswer = try await path.answer()
            #expect(claimAnswer.head.status == .created)
            #expect(try await path.routed().count == 3, "the held request reaches the router after the claim's answer")
            // While the router has not answered, a pipelined claim is not answered ahead of it.
            try await path.send(path.claim(user: "cid", key: "k2"))
            #expect(try await path.routed().count == 3, "the claim goes to the router too, behind its request")
            try await path.routerAnswers()
            try await path.routerAnswers()
            #expect(try path.engine.read { $0.cards(of: "cid").count } == 0)
            // Once the router is done, the next claim is this path's again.
            try await path.send(path.claim(user: "dee", key: "k3"))
            #expect(try await path.answer().head.status == .created)
        }
    }

    @Test("while a claim waits for its commit the connection is not read; reading resumes once it is answered")
    func pausesReadingWhileAClaimWaits() async throws {
        try await withFastPath { path in
            path.store.close()
            try await path.send(path.claim(user: "fay", key: "k"))
            let before = path.reads.count
            path.channel.read()
            try await path.channel.testingEventLoop.executeInContext {}
            #expect(path.reads.count == before, "no read while the claim's commit is held back")
            path.store.open()
            #expect(try await path.answer().head.status == .created)
            try await path.channel.testingEventLoop.executeInContext {}
            #expect(path.reads.count == before + 1)
        }
    }

    @Test("a body over the limit goes to the router with what was read of it")
    func oversizedBodiesGoToTheRouter() async throws {
        try await withFastPath { path in
            var request = try await path.claim(user: "eve", key: "k")
            request.body = ByteBuffer(repeating: UInt8(ascii: " "), count: JSONBody.maxBodyBytes + 1)
            try await path.send(request)
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

/// A `ClaimFastPath` in a test channel over a real engine with a campaign `spring`.
private struct FastPathRig: Sendable {
    let channel: NIOAsyncTestingChannel
    let engine: LedgerEngine
    let tokens: TokenAuthority
    let store: GatedStore
    let reads: ReadCounter

    /// The `Authorization` a test request carries.
    enum Bearer {
        /// A fresh user token for the claiming user.
        case minted
        /// This token.
        case given(String)
        /// None.
        case none
    }

    struct Request: Sendable {
        var head: HTTPRequest
        var body: ByteBuffer
    }

    struct Answer {
        var head: HTTPResponse
        var body: [UInt8]
        var json: [String: [String: Any]] {
            (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: [String: Any]] ?? [:]
        }
    }

    func claim(
        user: String, key: String, token: Bearer = .minted, method: HTTPRequest.Method = .post,
        path: String = "/v1/campaigns/spring/claims"
    ) async throws -> Request {
        var fields: HTTPFields = [.idempotencyKey: key]
        let bearer: String?
        switch token {
        case .minted: bearer = try await tokens.mint(Identity(userID: user, role: .user))
        case .given(let given): bearer = given
        case .none: bearer = nil
        }
        if let bearer { fields[.authorization] = "Bearer \(bearer)" }
        return Request(
            head: HTTPRequest(method: method, scheme: nil, authority: "localhost", path: path, headerFields: fields),
            body: ByteBuffer(string: "{}"))
    }

    func send(_ request: Request) async throws {
        try await channel.writeInbound(HTTPRequestPart.head(request.head))
        try await channel.writeInbound(HTTPRequestPart.body(request.body))
        try await channel.writeInbound(HTTPRequestPart.end(nil))
    }

    /// The next answer this path wrote.
    func answer() async throws -> Answer {
        guard case .head(let head) = try await channel.waitForOutboundWrite(as: HTTPResponsePart.self) else {
            throw RigError.unexpectedPart
        }
        var body: [UInt8] = []
        while true {
            switch try await channel.waitForOutboundWrite(as: HTTPResponsePart.self) {
            case .body(let chunk): body += Array(chunk.readableBytesView)
            case .end: return Answer(head: head, body: body)
            case .head: throw RigError.unexpectedPart
            }
        }
    }

    /// What has reached the router so far.
    func routed() async throws -> [HTTPRequestPart] {
        var parts: [HTTPRequestPart] = []
        while let part = try await channel.readInbound(as: HTTPRequestPart.self) { parts.append(part) }
        return parts
    }

    /// Writes an answer as the router would, through the pipeline.
    func routerAnswers() async throws {
        try await channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try await channel.writeOutbound(HTTPResponsePart.end(nil))
        for _ in 0..<2 { _ = try await channel.readOutbound(as: HTTPResponsePart.self) }
    }

    enum RigError: Error { case unexpectedPart }
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
                    desk: ClaimDesk(engine: engine, admission: admission), tokens: tokens, metrics: LanternMetrics(),
                    serverName: "Lantern"))
            try await body(FastPathRig(channel: channel, engine: engine, tokens: tokens, store: gated, reads: reads))
            _ = try? await channel.finish()
        }
    } catch {
        try? await store.remove()
        throw error
    }
    try await store.remove()
}

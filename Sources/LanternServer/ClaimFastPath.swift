import Foundation
import HTTPTypes
import Hummingbird
import LanternLedger
import LanternStorage
import NIOCore
import NIOHTTPTypes

/// Answers `POST /v1/campaigns/{id}/claims` from a signed-in user on the connection's event loop,
/// in the channel pipeline in front of the router.
///
/// A flash crowd is almost all claims, and through the router each one pays for a Swift task's
/// frames and executor switches around every middleware and the commit wait. Here a claim is
/// read, decided by the same `ClaimDesk` the router's route uses, and answered from the
/// ledger's commit callback, which already runs on this loop: no task at all. Everything else
/// passes through untouched, and so does any claim this path does not fully recognise (no
/// token, a token of another shape, another role, `Connection: close`, an oversized body): the
/// router answers those, with the same checks.
///
/// Answers leave in request order: a request handed to the router is followed by nothing of
/// this path's until the router's answer has ended, and requests that arrive while a claim
/// waits for its commit are held until it is answered.
final class ClaimFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The route's name in metrics and logs, as the router names it.
    static let route = "/v1/campaigns/{id}/claims"

    private enum State {
        /// Between requests.
        case idle
        /// Reading a claim this path answers.
        case reading(ClaimHead, body: ByteBuffer?)
        /// Requests go to the router until every one handed to it has been answered and the last
        /// has been read whole: `answersOwed` answers have not ended yet, `requestOpen` while
        /// the last request's end has not arrived.
        case routed(answersOwed: Int, requestOpen: Bool)
        /// A claim waits for the ledger; parts that arrive meanwhile wait in `held`.
        case answering
    }

    private struct ClaimHead {
        var head: HTTPRequest
        var identity: Identity
        var campaign: String
        var started: ContinuousClock.Instant
    }

    private let desk: ClaimDesk
    private let tokens: TokenAuthority
    private let metrics: LanternMetrics
    private let serverName: String
    private var state = State.idle
    private var held: [HTTPRequestPart] = []
    private var heldEvents: [Any] = []
    /// The channel asked to read while a claim was waiting: reading resumes once it is answered,
    /// so a client cannot pile requests up in memory behind one claim.
    private var readDeferred = false

    /// Creates the handler for one connection.
    init(desk: ClaimDesk, tokens: TokenAuthority, metrics: LanternMetrics, serverName: String) {
        self.desk = desk
        self.tokens = tokens
        self.metrics = metrics
        self.serverName = serverName
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        receive(unwrapInboundIn(data), context: context)
    }

    private func receive(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch (state, part) {
        case (.answering, _):
            held.append(part)
        case (.routed(let owed, _), .head):
            state = .routed(answersOwed: owed + 1, requestOpen: true)
            context.fireChannelRead(wrapInboundOut(part))
        case (.routed(let owed, _), .end):
            state = owed == 0 ? .idle : .routed(answersOwed: owed, requestOpen: false)
            context.fireChannelRead(wrapInboundOut(part))
        case (.routed, .body):
            context.fireChannelRead(wrapInboundOut(part))
        case (.idle, .head(let head)):
            if let claim = claimHead(head) {
                state = .reading(claim, body: nil)
            } else {
                route(head, body: nil, context: context)
            }
        case (.idle, _):
            // Body or end without a head: the router's loop reports the protocol error.
            context.fireChannelRead(wrapInboundOut(part))
        case (.reading(let claim, var body), .body(let chunk)):
            if (body?.readableBytes ?? 0) + chunk.readableBytes > JSONBody.maxBodyBytes {
                route(claim.head, body: body, context: context)
                receive(part, context: context)
                return
            }
            if body == nil { body = chunk } else { body!.writeImmutableBuffer(chunk) }
            state = .reading(claim, body: body)
        case (.reading(let claim, let body), .end):
            state = .answering
            answer(claim, body: body.map { Array($0.readableBytesView) } ?? [], context: context)
        case (.reading(let claim, let body), .head):
            // A new head before the end: not a request this path understands.
            route(claim.head, body: body, context: context)
            receive(part, context: context)
        }
    }

    /// The claim's head if this path answers it: a well-formed claim URL and a valid user token.
    private func claimHead(_ head: HTTPRequest) -> ClaimHead? {
        guard head.method == .post, let path = head.path, path.hasPrefix("/v1/campaigns/"), path.hasSuffix("/claims"),
            head.headerFields[.connection]?.lowercased() != "close",
            let authorization = head.headerFields[.authorization], authorization.hasPrefix("Bearer ")
        else { return nil }
        let campaign = path.dropFirst("/v1/campaigns/".count).dropLast("/claims".count)
        guard Identifier.isValid(String(campaign)),
            let identity = tokens.verifiedIdentity(String(authorization.dropFirst("Bearer ".count))),
            identity.role == .user
        else { return nil }
        return ClaimHead(head: head, identity: identity, campaign: String(campaign), started: .now)
    }

    /// Hands a request to the router, with the body read so far.
    private func route(_ head: HTTPRequest, body: ByteBuffer?, context: ChannelHandlerContext) {
        state = .routed(answersOwed: 1, requestOpen: true)
        context.fireChannelRead(wrapInboundOut(.head(head)))
        if let body { context.fireChannelRead(wrapInboundOut(.body(body))) }
    }

    private func answer(_ claim: ClaimHead, body: [UInt8], context: ChannelHandlerContext) {
        let fields = claim.head.headerFields
        switch desk.prepare(
            user: claim.identity.userID, campaign: claim.campaign, address: context.remoteAddress?.ipAddress,
            key: fields[.idempotencyKey], ticket: fields[.queueTicket], body: body)
        {
        case .answer(let answer):
            send(answer, for: claim, context: context)
        case .submit(let prepared):
            let started = ContinuousClock.now
            let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
            desk.engine.claim(prepared.request, eventLoop: context.eventLoop) { result in
                let (handler, context) = loopBound.value
                handler.desk.finished(since: started)
                switch result {
                case .success(let (outcome, replayed)):
                    handler.send(handler.desk.answer(outcome, replayed: replayed, for: prepared), for: claim, context: context)
                case .failure(let error):
                    handler.send(handler.desk.answer(failure: error), for: claim, context: context)
                }
            }
        }
    }

    /// Writes the answer, then goes on with whatever arrived meanwhile.
    private func send(_ answer: ClaimAnswer, for claim: ClaimHead, context: ChannelHandlerContext) {
        var headers = answer.headers
        headers[.contentLength] = String(answer.body.count)
        headers[.requestID] = RequestID().description
        headers[.server] = serverName
        var buffer = context.channel.allocator.buffer(capacity: answer.body.count)
        buffer.writeBytes(answer.body)
        context.write(wrapOutboundOut(.head(HTTPResponse(status: answer.status, headerFields: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(buffer)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        metrics.recordRequest(
            route: Self.route, method: .post, status: answer.status.code, duration: .now - claim.started)
        state = .idle
        let waiting = held
        held = []
        for part in waiting { receive(part, context: context) }
        // What was held arrived in an earlier read; the router's side takes reads in when a read
        // completes, so parts handed on now need a completion of their own.
        if !waiting.isEmpty { context.fireChannelReadComplete() }
        releaseEvents(context: context)
        if readDeferred, !isAnswering {
            readDeferred = false
            context.read()
        }
    }

    private var isAnswering: Bool {
        if case .answering = state { return true }
        return false
    }

    func read(context: ChannelHandlerContext) {
        if isAnswering {
            readDeferred = true
        } else {
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), case .routed(let owed, let requestOpen) = state {
            let stillOwed = max(owed - 1, 0)
            state = stillOwed == 0 && !requestOpen ? .idle : .routed(answersOwed: stillOwed, requestOpen: requestOpen)
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A server shutting down closes idle connections; one with a claim in flight is not idle.
        switch state {
        case .answering, .reading: heldEvents.append(event)
        case .idle, .routed: context.fireUserInboundEventTriggered(event)
        }
    }

    private func releaseEvents(context: ChannelHandlerContext) {
        switch state {
        case .answering, .reading: return
        case .idle, .routed: break
        }
        guard !heldEvents.isEmpty else { return }
        let events = heldEvents
        heldEvents = []
        for event in events { context.fireUserInboundEventTriggered(event) }
    }
}

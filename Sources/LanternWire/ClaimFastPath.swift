import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import LanternLedger
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// What the claim wire path asks of the application, and nothing more: who a bearer token
/// names, a claim decided (now, or once the ledger has committed it), and where answers are
/// counted. The server implements it over the same claim desk its router's route uses.
public protocol WireClaimDesk: Sendable {
    /// The user a bearer token names, when it is a valid user token in the shape this path can
    /// check without suspending; nil hands the request to the router.
    func user(bearer token: Substring) -> String?
    /// Decides `claim` and gives its answer to `done` on `eventLoop`: at once when no commit is
    /// needed (a refusal, a place in the waiting room), else from the ledger's commit callback.
    func decide(_ claim: WireClaim, eventLoop: any EventLoop, done: @escaping @Sendable (WireAnswer) -> Void)
    /// Counts an answered claim and its latency.
    func answered(_ status: HTTPResponse.Status, after duration: Duration)
}

/// A claim as read from the wire.
public struct WireClaim: Sendable {
    /// The signed-in user.
    public var user: String
    /// The campaign in the URL.
    public var campaign: String
    /// The client's address, for its rate limit.
    public var address: String?
    /// `Idempotency-Key`, `Queue-Ticket` and `Queue-Proof`, as sent.
    public var idempotencyKey: String?
    public var queueTicket: String?
    public var queueProof: String?
    /// The JSON body.
    public var body: [UInt8]
}

/// An answer to write: status, headers (`Content-Type` among them) and body.
public struct WireAnswer: Sendable {
    /// HTTP status.
    public var status: HTTPResponse.Status
    /// Headers; `Content-Length`, `X-Request-Id`, `Date` and `Server` are added when written.
    public var headers: HTTPFields
    /// The body.
    public var body: [UInt8]

    /// An answer.
    public init(status: HTTPResponse.Status, headers: HTTPFields, body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// Answers `POST /v1/campaigns/{id}/claims` from a signed-in user straight from the connection's
/// bytes, at the front of the channel pipeline, on the connection's event loop.
///
/// A flash crowd is almost all claims. Through the router each one pays for the HTTP/1 decoder
/// and encoder, the conversion to and from HTTP types, a Swift task and its executor switches
/// around every middleware and the commit wait. Here a claim's head is read from the bytes
/// (`WireRequestHead`), decided by the same `ClaimDesk` the router's route uses, and answered
/// with bytes from the ledger's commit callback, which already runs on this loop.
///
/// Everything else goes to the full HTTP stack behind this handler, whole and unchanged: any
/// other request, and any claim this path does not fully recognise (no token, a token of
/// another shape, another role, `Connection: close`, `Expect`, a body over the limit, a field
/// sent twice). A request handed on is followed by nothing of this path's until the router's
/// answer has ended (`RouterAnswerWatch` reports it), so answers leave in request order. A
/// head this path cannot read with certainty (another HTTP version, `Transfer-Encoding`,
/// `Upgrade`, a malformed line) hands the connection to the full stack for good.
final class ClaimFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private enum Mode {
        /// At a request boundary: the next request's head is read here. `scanned` bytes of
        /// `pending` have been searched for the head's end, so a head arriving in many small
        /// pieces is searched once, not once per piece.
        case reading(scanned: Int)
        /// A claim this path answers, waiting for the rest of its body.
        case awaitingBody(WireRequestHead, Claim)
        /// A claim waits for the ledger.
        case answering
        /// A request went to the router: `bodyLeft` bytes of its body are still to pass on, and
        /// `answered` once the router's answer has ended.
        case routed(bodyLeft: Int, answered: Bool)
        /// The connection belongs to the full HTTP stack from here on.
        case handedOver
        /// The connection is closing or closed: what it still holds is dropped, and nothing more
        /// is read or answered (a claim behind a request the router refused is never carried out).
        case closed
    }

    private let desk: any WireClaimDesk
    private let serverName: String
    private let maxBodyBytes: Int
    private let formatDate: @Sendable (Int64) -> String
    private let logger: Logger
    private var mode = Mode.reading(scanned: 0)
    /// Bytes read and not yet answered or passed on.
    private var pending: ByteBuffer?
    private var heldEvents: [Any] = []
    /// The channel asked to read while requests were waiting here: reading resumes once they
    /// are taken, so a client cannot pile requests up in memory behind one claim.
    private var readDeferred = false
    /// `process` is running (an answer decided synchronously must not start it again).
    private var processing = false
    /// The `Date` header's value for the current second.
    private var date = (second: Int64(0), text: "")
    /// The client's IP address, read once: the channel's cached copy, not a system call per claim.
    private var clientAddress: String?
    /// Bytes went to the handlers behind since they last saw a read complete. A read this
    /// path took whole is not announced to them, so they do no work for it.
    private var passedOnSinceReadComplete = false
    /// Creates the handler for one connection: claims go to `desk`; answers carry `serverName`
    /// and a `Date` header `formatDate` writes; a body over `maxBodyBytes` goes to the router.
    init(
        desk: any WireClaimDesk, serverName: String, maxBodyBytes: Int, formatDate: @escaping @Sendable (Int64) -> String,
        logger: Logger
    ) {
        self.desk = desk
        self.serverName = serverName
        self.maxBodyBytes = maxBodyBytes
        self.formatDate = formatDate
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        clientAddress = context.channel.remoteAddress?.ipAddress
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if case .closed = mode { return }
        if case .handedOver = mode {
            passedOnSinceReadComplete = true
            context.fireChannelRead(data)
            return
        }
        if pending == nil {
            pending = bytes
        } else {
            var incoming = bytes
            pending!.writeBuffer(&incoming)
        }
        if process(context: context) { passedOnSinceReadComplete = true }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard passedOnSinceReadComplete else { return }
        passedOnSinceReadComplete = false
        context.fireChannelReadComplete()
    }

    /// Takes requests from `pending` for as long as the mode allows; returns whether any bytes
    /// were passed on.
    private func process(context: ChannelHandlerContext) -> Bool {
        processing = true
        defer {
            processing = false
            // An empty slice would keep the whole receive buffer alive while the connection idles.
            if pending?.readableBytes == 0 { pending = nil }
        }
        var passedOn = false
        while true {
            switch mode {
            case .answering, .closed:
                return passedOn
            case .handedOver:
                if let rest = pending.take(), rest.readableBytes > 0 {
                    context.fireChannelRead(wrapInboundOut(rest))
                    passedOn = true
                }
                return passedOn
            case .routed(let bodyLeft, let answered):
                if bodyLeft > 0, var buffer = pending, buffer.readableBytes > 0 {
                    let count = min(bodyLeft, buffer.readableBytes)
                    context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: count)!))
                    pending = buffer
                    passedOn = true
                    mode = .routed(bodyLeft: bodyLeft - count, answered: answered)
                    continue
                }
                guard bodyLeft == 0, answered else { return passedOn }
                mode = .reading(scanned: 0)
            case .awaitingBody(let head, let claim):
                guard var buffer = pending, buffer.readableBytes >= head.length + head.contentLength else {
                    return passedOn
                }
                buffer.moveReaderIndex(forwardBy: head.length)
                let body = buffer.readBytes(length: head.contentLength)!
                pending = buffer
                mode = .answering
                answer(claim, head: head, body: body, context: context)
            case .reading(let scanned):
                guard var buffer = pending, buffer.readableBytes > 0 else { return passedOn }
                let head: WireRequestHead
                switch WireRequestHead.frame(buffer, searchedBytes: scanned) {
                case .incomplete(let searched):
                    mode = .reading(scanned: searched)
                    return passedOn
                case .handOver:
                    mode = .handedOver
                    continue
                case .request(let read):
                    head = read
                }
                if let claim = claim(head) {
                    mode = .awaitingBody(head, claim)
                } else {
                    context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: head.length)!))
                    pending = buffer
                    passedOn = true
                    mode = head.closesConnection ? .handedOver : .routed(bodyLeft: head.contentLength, answered: false)
                }
            }
        }
    }

    private struct Claim {
        var user: String
        var campaign: String
        var started: ContinuousClock.Instant
    }

    /// The claim in `head` if this path answers it: a well-formed claim URL, a valid user token,
    /// nothing that asks for more than a plain answer.
    private func claim(_ head: WireRequestHead) -> Claim? {
        let prefix = "/v1/campaigns/"
        let suffix = "/claims"
        guard head.method == "POST", head.target.hasPrefix(prefix), head.target.hasSuffix(suffix),
            head.target.utf8.count > prefix.utf8.count + suffix.utf8.count,
            !head.closesConnection, !head.expects, !head.repeatsAField, head.contentLength <= maxBodyBytes,
            let authorization = head.authorization, authorization.hasPrefix("Bearer ")
        else { return nil }
        let campaign = String(head.target.dropFirst(prefix.count).dropLast(suffix.count))
        guard Identifier.isValid(campaign), let user = desk.user(bearer: authorization.dropFirst("Bearer ".count)) else {
            return nil
        }
        return Claim(user: user, campaign: campaign, started: .now)
    }

    private func answer(_ claim: Claim, head: WireRequestHead, body: [UInt8], context: ChannelHandlerContext) {
        let wire = WireClaim(
            user: claim.user, campaign: claim.campaign, address: clientAddress, idempotencyKey: head.idempotencyKey,
            queueTicket: head.queueTicket, queueProof: head.queueProof, body: body)
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        desk.decide(wire, eventLoop: context.eventLoop) { answer in
            let (handler, context) = loopBound.value
            handler.send(answer, for: claim, head: head, context: context)
        }
    }

    /// Writes the answer, then goes on with whatever arrived meanwhile; on a closed connection, nothing.
    private func send(_ answer: WireAnswer, for claim: Claim, head: WireRequestHead, context: ChannelHandlerContext) {
        let second = Int64(Date().timeIntervalSince1970)
        if second != date.second { date = (second, formatDate(second)) }
        guard case .answering = mode else { return }
        var buffer = context.channel.allocator.buffer(capacity: 256 + answer.body.count)
        let requestID = Self.write(answer, date: date.text, serverName: serverName, to: &buffer)
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(buffer)), promise: nil)
        if answer.status.code >= 500 {
            // As the router's logging middleware logs a 5xx: with the request id the client saw.
            logger.error(
                "claim answered \(answer.status.code)",
                metadata: ["hb.request.id": "\(requestID)", "hb.request.path": "\(head.target)", "user": "\(claim.user)"])
        }
        desk.answered(answer.status, after: .now - claim.started)
        mode = .reading(scanned: 0)
        if !processing { resume(context: context) }
    }

    /// Serialises an answer as an HTTP/1.1 response, piece by piece into the buffer (numbers
    /// this short are small strings, kept inline, not allocated); returns its request id.
    private static func write(_ answer: WireAnswer, date: String, serverName: String, to buffer: inout ByteBuffer) -> FastPathRequestID {
        buffer.writeStaticString("HTTP/1.1 ")
        buffer.writeString(String(answer.status.code))
        buffer.writeStaticString(" ")
        buffer.writeString(answer.status.reasonPhrase)
        for field in answer.headers {
            buffer.writeStaticString("\r\n")
            buffer.writeString(field.name.rawName)
            buffer.writeStaticString(": ")
            buffer.writeString(field.value)
        }
        buffer.writeStaticString("\r\nContent-Length: ")
        buffer.writeString(String(answer.body.count))
        buffer.writeStaticString("\r\nX-Request-Id: ")
        let requestID = FastPathRequestID.writeNext(to: &buffer)
        buffer.writeStaticString("\r\nDate: ")
        buffer.writeString(date)
        buffer.writeStaticString("\r\nServer: ")
        buffer.writeString(serverName)
        buffer.writeStaticString("\r\n\r\n")
        buffer.writeBytes(answer.body)
        return requestID
    }

    /// After an answer or the router's answer: takes the requests that waited, lets the
    /// handlers behind see what was passed on, and reads again.
    private func resume(context: ChannelHandlerContext) {
        if process(context: context) {
            passedOnSinceReadComplete = false
            context.fireChannelReadComplete()
        }
        if case .answering = mode { return }
        if !heldEvents.isEmpty {
            let events = heldEvents
            heldEvents = []
            for event in events { context.fireUserInboundEventTriggered(event) }
        }
        if readDeferred, !holdsRequests {
            readDeferred = false
            context.read()
        }
    }

    /// Bytes of later requests wait here until the current one is answered.
    private var holdsRequests: Bool {
        switch mode {
        case .answering, .routed(bodyLeft: 0, answered: false): return (pending?.readableBytes ?? 0) > 0
        case .reading, .awaitingBody, .routed, .handedOver, .closed: return false
        }
    }

    func read(context: ChannelHandlerContext) {
        if holdsRequests {
            readDeferred = true
        } else {
            context.read()
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is RouterAnswerWatch.AnswerEnded else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        promise?.succeed()
        if case .routed(let bodyLeft, _) = mode {
            mode = .routed(bodyLeft: bodyLeft, answered: true)
            // Not at once: a router that closes the connection after its answer (a request it
            // refused) does so right after this write, and what waits here must see that first.
            let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
            context.eventLoop.execute {
                let (handler, context) = loopBound.value
                if !handler.processing { handler.resume(context: context) }
            }
        }
    }

    func close(context: ChannelHandlerContext, mode closeMode: CloseMode, promise: EventLoopPromise<Void>?) {
        if closeMode != .output { dropEverything() }
        context.close(mode: closeMode, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        dropEverything()
        context.fireChannelInactive()
    }

    /// The connection is going: bytes held here are for no one. A claim already with the ledger
    /// still commits (it was read and sent before the close); only its answer is dropped.
    private func dropEverything() {
        mode = .closed
        pending = nil
        readDeferred = false
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A server shutting down closes idle connections; one with a claim in flight is not idle.
        if case .answering = mode {
            heldEvents.append(event)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

/// `X-Request-Id` values for the claims `ClaimFastPath` answers, in the shape Hummingbird gives
/// the router's answers (a random prefix in hex, then a counter as 16 hex digits), written
/// straight into the answer's bytes instead of built as a string first.
struct FastPathRequestID: CustomStringConvertible {
    private static let prefix = Array(String(UInt64.random(in: .min ... .max), radix: 16).utf8)
    private static let counter = Atomic<UInt64>(UInt64.random(in: .min ... .max))

    private let value: UInt64

    /// Writes the next id and returns it (its text is built only when a log line needs it).
    static func writeNext(to buffer: inout ByteBuffer) -> FastPathRequestID {
        let value = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        buffer.writeBytes(prefix)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 16) { digits in
            for index in 0..<16 { digits[index] = digit(value, index) }
            return 16
        }
        return FastPathRequestID(value: value)
    }

    private static func digit(_ value: UInt64, _ index: Int) -> UInt8 {
        let nibble = UInt8(truncatingIfNeeded: value >> UInt64(60 - 4 * index)) & 0xF
        return nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    /// The id as the answer's header carries it.
    var description: String { String(decoding: Self.prefix + (0..<16).map { Self.digit(value, $0) }, as: UTF8.self) }
}

/// Tells `ClaimFastPath` when an answer from the router has ended. Sits behind the HTTP codec,
/// where answers are still HTTP parts, and sends the news down the pipeline as an outbound
/// event.
final class RouterAnswerWatch: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The outbound event sent after the end of each answer.
    struct AnswerEnded {}

    /// Creates the watch for one connection.
    init() {}

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let ended = if case .end = unwrapOutboundIn(data) { true } else { false }
        context.write(data, promise: promise)
        if ended { context.triggerUserOutboundEvent(AnswerEnded(), promise: nil) }
    }
}

/// Hummingbird's HTTP/1 channel with `ClaimFastPath` at the front of each connection's pipeline.
public struct ClaimFastPathChannel: ServerChildChannel {
    let http1: HTTP1Channel
    let makeFastPath: @Sendable () -> ClaimFastPath

    /// HTTP/1 for `responder`, with claims decided by `desk` (see `ClaimFastPath.init`).
    public init(
        responder: @escaping HTTPChannelHandler.Responder, desk: any WireClaimDesk, serverName: String, maxBodyBytes: Int,
        formatDate: @escaping @Sendable (Int64) -> String, logger: Logger
    ) {
        http1 = HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: [RouterAnswerWatch()]))
        makeFastPath = {
            ClaimFastPath(desk: desk, serverName: serverName, maxBodyBytes: maxBodyBytes, formatDate: formatDate, logger: logger)
        }
    }

    /// Sets the connection up as `HTTP1Channel` does, then puts the fast path in front.
    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(makeFastPath(), position: .first)
            return value
        }
    }

    /// Serves what the fast path handed on, as `HTTP1Channel` does.
    public func handle(value: HTTP1Channel.Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

extension Optional where Wrapped == ByteBuffer {
    /// The buffer, leaving `nil` behind.
    fileprivate mutating func take() -> ByteBuffer? {
        defer { self = nil }
        return self
    }
}

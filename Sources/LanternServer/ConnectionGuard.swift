import Glibc
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// How many connections the server holds, and how long it waits on one: the defences against a
/// crowd, or one client, that opens sockets and sends nothing, or a byte at a time.
public struct ConnectionLimits: Sendable {
    /// Open connections from one client address; past it, a new one is answered 503 and closed.
    public var perAddress: Int
    /// Open connections in all; past it, likewise. Kept under the process's file limit so that
    /// accepting never stalls for want of a descriptor.
    public var total: Int
    /// Longest from a request's first byte to the start of its answer: a head or a body that
    /// trickles in (slowloris) is closed after it.
    public var requestTimeout: Duration
    /// Longest a kept-alive connection may stay silent between requests.
    public var idleTimeout: Duration
    /// Connections the kernel may hold, handshake done, before the server accepts them. When a
    /// crowd connects at once and this queue is full, the kernel drops the handshake's last
    /// packet while the client believes it is connected and sends its request, which is then
    /// resent only after a second or three: the tail a flash crowd sees. The kernel caps it at
    /// `net.core.somaxconn` (4,096 by default on current Linux; raise it to let 16,384 in).
    /// One turn of the listening socket's event loop accepts up to this many, the whole queue.
    public var backlog: Int

    /// Creates limits; the defaults serve a campaign's crowd from behind NAT and proxies.
    public init(
        perAddress: Int = 1_024, total: Int = ConnectionLimits.defaultTotal, requestTimeout: Duration = .seconds(30),
        idleTimeout: Duration = .seconds(75), backlog: Int = 16_384
    ) {
        self.perAddress = perAddress
        self.total = total
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
        self.backlog = backlog
    }

    /// The process's soft file limit less what the server needs for itself (database, logs, peers).
    public static var defaultTotal: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 16_384 }
        return max(64, Int(min(limit.rlim_cur, 1 << 20)) - 256)
    }
}

/// The connections open now, in all and per client address.
public final class ConnectionCensus: Sendable {
    private struct Counts {
        var total = 0
        var byAddress: [String: Int] = [:]
    }

    private let counts = Mutex(Counts())
    /// The limits it admits under.
    public let limits: ConnectionLimits

    /// A census with no connections.
    public init(limits: ConnectionLimits) { self.limits = limits }

    /// Counts a new connection in, unless it would pass a limit.
    func admit(_ address: String) -> Bool {
        counts.withLock { counts in
            guard counts.total < limits.total, counts.byAddress[address, default: 0] < limits.perAddress else { return false }
            counts.total += 1
            counts.byAddress[address, default: 0] += 1
            return true
        }
    }

    /// Counts a connection that was admitted out.
    func leave(_ address: String) {
        counts.withLock { counts in
            counts.total -= 1
            let left = counts.byAddress[address, default: 1] - 1
            counts.byAddress[address] = left > 0 ? left : nil
        }
    }
}

/// The first handler of every connection: admits it under the census's limits (a refused one
/// gets a 503 with `Retry-After` and is closed at once, so the accept queue keeps moving), and
/// closes it when a request takes longer than `requestTimeout` to arrive or a kept-alive
/// connection stays silent past `idleTimeout`. It sees every byte, including the claims the
/// fast path answers, so claim traffic counts as activity.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let census: ConnectionCensus
    private let requestTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    /// How often the one timer of the connection looks: the shorter timeout, so that neither is
    /// overshot by more than itself.
    private let tick: TimeAmount
    private var address: String?
    private var admitted = false
    /// A request has bytes in and no answer out yet.
    private var awaitingAnswer = false
    /// When the connection is closed unless something happens: the request's deadline while one
    /// waits, else the idle deadline. Moved by reads and writes with a clock reading, not a timer:
    /// at tens of thousands of claims a second a timer per request would cost more than the claim.
    private var deadline = NIODeadline.distantFuture
    private var timer: Scheduled<Void>?

    /// Creates the guard for one connection.
    init(census: ConnectionCensus) {
        self.census = census
        requestTimeout = Self.timeAmount(census.limits.requestTimeout)
        idleTimeout = Self.timeAmount(census.limits.idleTimeout)
        tick = min(requestTimeout, idleTimeout)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
        self.address = address
        guard census.admit(address) else {
            Self.refuse(context)
            return
        }
        admitted = true
        deadline = .now() + idleTimeout
        schedule(context, at: deadline)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard admitted else { return }
        if !awaitingAnswer {
            awaitingAnswer = true
            deadline = .now() + requestTimeout
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // An answer has begun (or a stream goes on): silence from here is idleness. A request
        // pipelined behind it starts its own clock with its next read.
        awaitingAnswer = false
        deadline = .now() + idleTimeout
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        leave()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { leave() }

    private func leave() {
        timer?.cancel()
        timer = nil
        if admitted, let address {
            admitted = false
            census.leave(address)
        }
    }

    /// Looks at `time` (and at most a tick later than now): closes the connection once its
    /// deadline has passed, else looks again.
    private func schedule(_ context: ChannelHandlerContext, at time: NIODeadline) {
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: min(time, .now() + tick)) {
            let (handler, context) = loopBound.value
            guard handler.admitted else { return }
            if NIODeadline.now() >= handler.deadline {
                context.close(promise: nil)
            } else {
                handler.schedule(context, at: handler.deadline)
            }
        }
    }

    private static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// The answer past a limit: 503, try again in a second, and the connection closed.
    static let refusal: [UInt8] = {
        let body = #"{"error":{"code":"too_many_connections","message":"too many open connections; try again in a moment"}}"#
        return Array(
            ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\nRetry-After: 1\r\n"
                + "Connection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body).utf8)
    }()

    private static func refuse(_ context: ChannelHandlerContext) {
        let buffer = context.channel.allocator.buffer(bytes: refusal)
        context.writeAndFlush(NIOAny(IOData.byteBuffer(buffer))).whenComplete { _ in context.close(promise: nil) }
    }
}

/// A server child channel with `ConnectionGuard` in front of whatever serves the connection.
struct GuardedChannel<Inner: ServerChildChannel>: ServerChildChannel {
    let inner: Inner
    let census: ConnectionCensus

    /// Sets the connection up as `inner` does, then puts the guard first.
    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Inner.Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(ConnectionGuard(census: census), position: .first)
            return value
        }
    }

    /// Serves the connection as `inner` does.
    func handle(value: Inner.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with every connection admitted and timed by `ConnectionGuard`.
    static func guardedHTTP1(census: ConnectionCensus) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            GuardedChannel(inner: HTTP1Channel(responder: responder), census: census)
        }
    }
}


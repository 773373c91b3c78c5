import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// How many connections the server holds, and how long it waits on one: the defences against a
/// crowd, or one client, that opens sockets and sends nothing, or a byte at a time.
public struct ConnectionLimits: Sendable, Equatable {
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

    /// Creates limits; the defaults serve a campaign's crowd from behind NAT and proxies.
    public init(
        perAddress: Int = 1_024, total: Int = ConnectionLimits.defaultTotal, requestTimeout: Duration = .seconds(30),
        idleTimeout: Duration = .seconds(75)
    ) {
        self.perAddress = perAddress
        self.total = total
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
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

    /// Connections open now.
    public var open: Int { counts.withLock { $0.total } }
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
    private var address: String?
    private var admitted = false
    /// A request has bytes in and no answer out yet.
    private var awaitingAnswer = false
    private var timer: Scheduled<Void>?

    /// Creates the guard for one connection.
    init(census: ConnectionCensus) { self.census = census }

    func handlerAdded(context: ChannelHandlerContext) {
        let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
        self.address = address
        guard census.admit(address) else {
            Self.refuse(context)
            return
        }
        admitted = true
        if context.channel.isActive { arm(context, after: census.limits.idleTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if admitted { arm(context, after: census.limits.idleTimeout) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard admitted else { return }
        if !awaitingAnswer {
            awaitingAnswer = true
            arm(context, after: census.limits.requestTimeout)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // An answer has begun: the client is served; silence from here is idleness. A request
        // pipelined behind it starts its own clock with its next read.
        if awaitingAnswer {
            awaitingAnswer = false
            arm(context, after: census.limits.idleTimeout)
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if admitted, let address {
            admitted = false
            census.leave(address)
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        if admitted, let address {
            admitted = false
            census.leave(address)
        }
    }

    private func arm(_ context: ChannelHandlerContext, after delay: Duration) {
        timer?.cancel()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
        timer = context.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) { loopBound.value.close(promise: nil) }
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


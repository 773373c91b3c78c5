import LanternLedger
import LanternStorage
import NIOCore
import Synchronization

/// Fans order changes out to the live streams of the users they belong to.
public final class OrderEvents: Sendable {
    /// Streams by whose they are: `user:ID` for a customer's, `store:ID` for a store's counter.
    private let subscribers = Mutex<[String: [UInt64: AsyncStream<Order>.Continuation]]>([:])
    private let nextID = Atomic<UInt64>(0)
    private let observe: (@Sendable (Order) async -> Void)?

    /// A hub with no subscribers; `observe` hears of every order placed or changed (the stores'
    /// auto-pause, the experiments' guardrail): this node's before the change is answered,
    /// other nodes' as the order feed brings them.
    public init(observe: (@Sendable (Order) async -> Void)? = nil) { self.observe = observe }

    /// Whether `user` has a live stream open on this node.
    public func isFollowed(_ user: String) -> Bool {
        subscribers.withLock { !($0["user:" + user]?.isEmpty ?? true) }
    }

    /// Whether a counter page follows `store`'s orders on this node: someone is at the counter.
    public func isFollowed(store: String) -> Bool {
        subscribers.withLock { !($0["store:" + store]?.isEmpty ?? true) }
    }

    /// Sends `order` to every stream of its user.
    public func publish(_ order: Order) {
        let streams = subscribers.withLock { table in
            Array((table["user:" + order.draft.user] ?? [:]).values) + Array((table["store:" + order.draft.merchantID] ?? [:]).values)
        }
        for stream in streams { stream.yield(order) }
    }

    /// A stream of the changes to one store's orders (new, accepted, cancelled, picked up …).
    public func subscribe(store: String) -> AsyncStream<Order> { subscribe("store:" + store) }

    /// Moves an order through the ledger and tells its user's streams; a refusal is thrown as the ledger's error.
    package func change(
        _ id: String, to state: OrderState, by actor: OrderActor, on engine: LedgerEngine, eventLoop: (any EventLoop)? = nil
    ) async throws -> Order {
        try await engine.prepareOrder(id)
        switch try await engine.changeOrder(id, to: state, by: actor, eventLoop: eventLoop) {
        case .success(let order):
            await announce(order)
            return order
        case .failure(let error): throw error
        }
    }

    /// Tells the streams and the observer of an order this node placed or changed.
    package func announce(_ order: Order) async {
        publish(order)
        await observe?(order)
    }

    /// Tells the streams and the observer of an order another node placed or changed.
    package func heard(_ order: Order) {
        publish(order)
        if let observe { Task { await observe(order) } }
    }

    /// A stream of `user`'s order changes, until the caller stops reading it.
    public func subscribe(user: String) -> AsyncStream<Order> { subscribe("user:" + user) }

    private func subscribe(_ key: String) -> AsyncStream<Order> {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream.makeStream(of: Order.self, bufferingPolicy: .bufferingNewest(64))
        subscribers.withLock { $0[key, default: [:]][id] = continuation }
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { state in
                state[key]?[id] = nil
                if state[key]?.isEmpty == true { state[key] = nil }
            }
        }
        return stream
    }
}

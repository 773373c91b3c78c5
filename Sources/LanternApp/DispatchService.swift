import Foundation
import LanternCatalog
import LanternLedger
import LanternOrders
import LanternStorage
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// How the server's riders and (optionally) its demo stores behave.
public struct DispatchConfiguration: Sendable {
    /// Riders seeded near the demo city's stores; 0 turns dispatch off.
    public var riders: Int
    /// Simulation speed: riders ride, and autopilot stores make drinks, this many times faster than real time.
    public var timeScale: Double
    /// Seconds between dispatch rounds (real time).
    public var roundSeconds: Double
    /// Demo stores accept every order at once and mark it ready at its predicted time (but for
    /// those whose counter page is open).
    public var autopilot: Bool

    /// Creates a configuration.
    public init(riders: Int = 200, timeScale: Double = 1, roundSeconds: Double = 5, autopilot: Bool = false) {
        self.riders = riders
        self.timeScale = timeScale
        self.roundSeconds = roundSeconds
        self.autopilot = autopilot
    }
}

/// Runs dispatch over the live orders: every round assigns ready and soon-ready orders to the
/// simulated riders, and every tick moves the riders, marking orders picked up at the counter
/// (once the store has marked them ready) and delivered at the door.
public final class DispatchService: Service, Sendable {
    private struct State {
        var riders: [Rider]
        var orders: [DispatchOrder] = []
        var ids: [String] = []
        /// Each order's dispatch policy, from `policy` when it came in.
        var policies: [DispatchPolicy] = []
        var index: [String: Int] = [:]
        var open: [Int] = []
        var simulatedMs: Int64
        var lastTick: ContinuousClock.Instant
    }

    private let configuration: DispatchConfiguration
    private let engine: LedgerEngine
    private let directory: MerchantDirectory
    private let events: OrderEvents
    private let logger: Logger
    private let clock: @Sendable () -> Date
    private let policy: @Sendable (Order) -> DispatchPolicy
    private let state: Mutex<State>
    private let roundTimer: Metrics.Timer

    /// Creates the service with riders seeded from `seed` near the directory's stores; round
    /// times go to `metrics`; `policy` says how each order is dispatched (an experiment's
    /// variant, or Lantern's planned rounds).
    public init(
        _ configuration: DispatchConfiguration, engine: LedgerEngine, directory: MerchantDirectory, events: OrderEvents,
        seed: UInt64, logger: Logger, metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        policy: @escaping @Sendable (Order) -> DispatchPolicy = { _ in .planned }, clock: @escaping @Sendable () -> Date
    ) {
        self.policy = policy
        roundTimer = Metrics.Timer(label: "lantern_dispatch_round_seconds", factory: metrics)
        self.configuration = configuration
        self.engine = engine
        self.directory = directory
        self.events = events
        self.logger = logger
        self.clock = clock
        var random = SplitMix64(seed: seed ^ 0x5EED)
        let riders = directory.stores.isEmpty ? [] : (0..<configuration.riders).map { id -> Rider in
            let near = directory.stores[Int(random.next() % UInt64(directory.stores.count))].location
            return Rider(
                id: id, position: GeoPoint(lat: near.lat + random.unit(in: -0.005...0.005), lng: near.lng + random.unit(in: -0.005...0.005)),
                metersPerSecond: OrderDesk.riderMetersPerSecond * configuration.timeScale)
        }
        state = Mutex(State(riders: riders, simulatedMs: clock().millisecondsSince1970, lastTick: .now))
    }

    /// When the assigned rider expects to drop `orderID`, if it is assigned.
    public func estimatedDelivery(of orderID: String) -> Date? {
        state.withLock { state in
            guard let index = state.index[orderID], let rider = state.orders[index].rider else { return nil }
            let drop = Dispatch.dropTimes(state.riders[rider], nowMs: clock().millisecondsSince1970, orders: state.orders)[index]
            return drop.map { Date(millisecondsSince1970: $0) }
        }
    }

    /// Ticks every second and runs a round every `roundSeconds`, until graceful shutdown.
    public func run() async throws {
        guard configuration.riders > 0 else {
            // With no riders there is nothing to run, but returning early would end the service
            // group (and so the server): wait for shutdown instead.
            try? await gracefulShutdown()
            return
        }
        var lastRound = ContinuousClock.now - .seconds(configuration.roundSeconds)
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await tick()
                if ContinuousClock.now - lastRound >= .seconds(configuration.roundSeconds) {
                    try await round()
                    lastRound = .now
                }
            } catch is LedgerUnavailable {
                // The ledger is loading or recovering; the next tick tries again.
            } catch {
                logger.warning("dispatch tick failed", metadata: ["error": "\(error)"])
            }
            // The pause ends at once on graceful shutdown.
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
        }
    }

    /// Brings new orders in, runs the autopilot stores, and assigns orders to riders.
    package func round() async throws {
        let nowMs = clock().millisecondsSince1970
        let live = try engine.read { book in book.allOrders.filter { !$0.state.isFinal && $0.state != .pickedUp } }
        for order in live {
            // A store whose counter page is open is run by the person at it, not by the autopilot.
            if configuration.autopilot, !events.isFollowed(store: order.draft.merchantID) {
                if order.state == .placed { try await move(order.id, to: .accepted, by: .merchant(order.draft.merchantID)) }
                if order.state == .accepted, nowMs >= readyAt(order) {
                    try await move(order.id, to: .ready, by: .merchant(order.draft.merchantID))
                }
            }
        }
        let liveIDs = Set(live.map(\.id))
        state.withLock { state in
            // Orders cancelled or rejected before a rider took them leave the queue.
            state.open.removeAll { !liveIDs.contains(state.ids[$0]) }
            for order in live where state.index[order.id] == nil {
                guard let store = directory.store(id: order.draft.merchantID) else { continue }
                let id = state.orders.count
                state.index[order.id] = id
                state.ids.append(order.id)
                state.policies.append(policy(order))
                state.orders.append(
                    DispatchOrder(
                        id: id, store: store.location, drop: GeoPoint(lat: order.draft.address.lat, lng: order.draft.address.lng),
                        readyAtMs: readyAt(order), promisedAtMs: order.draft.promisedAtMs))
                state.open.append(id)
            }
            // Riders work daily shifts in China time; off shift, nothing new is planned for them.
            let minute = OrderDesk.localMinute(atMs: nowMs)
            for index in state.riders.indices {
                let shift = Self.shifts[index % Self.shifts.count]
                state.riders[index].shiftEndsAtMs =
                    minute >= shift.start && minute < shift.end ? nowMs + Int64(shift.end - minute) * 60_000 : nowMs
            }
            let started = ContinuousClock.now
            let policies = state.policies
            Dispatch.round(orders: &state.orders, open: &state.open, riders: &state.riders, nowMs: nowMs) { policies[$0] }
            roundTimer.record(duration: ContinuousClock.now - started)
        }
    }

    /// Daily shifts, minutes after midnight in China: early, middle and late, covering 07:00–24:00.
    package static let shifts: [(start: Int, end: Int)] = [(7 * 60, 15 * 60), (11 * 60, 19 * 60), (15 * 60, 24 * 60)]

    /// When the store should have the order ready: its promise less handover and the ride.
    private func readyAt(_ order: Order) -> Int64 {
        guard let store = directory.store(id: order.draft.merchantID) else { return order.draft.promisedAtMs }
        let ride = store.location.distance(to: GeoPoint(lat: order.draft.address.lat, lng: order.draft.address.lng))
        let made = order.draft.promisedAtMs - OrderDesk.handoverMinutes * 60_000 - Int64(ride / OrderDesk.riderMetersPerSecond * 1_000)
        // Autopilot stores work as fast as the simulation runs.
        return order.placedAtMs + Int64(Double(made - order.placedAtMs) / configuration.timeScale)
    }

    /// Moves the riders by the time since the last tick (or by `seconds`); records pickups and deliveries.
    package func tick(seconds: Double? = nil) async throws {
        let elapsed = state.withLock { state -> Double in
            defer { state.lastTick = .now }
            return seconds ?? (ContinuousClock.now - state.lastTick).secondsValue
        }
        let nowMs = clock().millisecondsSince1970
        var arrivals: [(order: String, pickup: Bool)] = []
        let states = try engine.read { book in
            state.withLock { state in state.ids.map { book.order($0)?.state } }
        }
        state.withLock { state in
            let cosLat = cos(DemoCity.centre.lat * .pi / 180)
            for index in state.riders.indices {
                // Orders dropped by the store or the customer leave the route.
                state.riders[index].route.removeAll { stop in
                    let current = stop.order < states.count ? states[stop.order] : nil
                    return current == .cancelled || current == .rejected
                }
                var budget = state.riders[index].metersPerSecond * elapsed
                while budget > 0, let stop = state.riders[index].route.first {
                    let rider = state.riders[index]
                    let distance = Dispatch.meters(rider.position, stop.point, cosLat: cosLat)
                    if stop.isPickup, distance > 1,
                        Double(nowMs) + distance / rider.metersPerSecond * 1_000 < Double(state.orders[stop.order].readyAtMs)
                    {
                        break  // leave so as to arrive as the drink is ready
                    }
                    if distance > budget {
                        let fraction = budget / distance
                        state.riders[index].position = GeoPoint(
                            lat: rider.position.lat + (stop.point.lat - rider.position.lat) * fraction,
                            lng: rider.position.lng + (stop.point.lng - rider.position.lng) * fraction)
                        break
                    }
                    state.riders[index].position = stop.point
                    budget -= distance
                    // At the counter the rider waits until the store has marked the order ready.
                    if stop.isPickup, stop.order < states.count, states[stop.order] != .ready { break }
                    arrivals.append((state.ids[stop.order], stop.isPickup))
                    state.riders[index].carrying += stop.isPickup ? 1 : -1
                    state.riders[index].route.removeFirst()
                }
            }
        }
        for (order, pickup) in arrivals {
            try await move(order, to: pickup ? .pickedUp : .delivered, by: .operations)
        }
    }

    /// An order the customer or store ended meanwhile is refused by the ledger; that is not an error here.
    private func move(_ id: String, to state: OrderState, by actor: OrderActor) async throws {
        do {
            _ = try await events.change(id, to: state, by: actor, on: engine)
        } catch is LedgerError {
        }
    }

    /// Riders, busy riders and orders waiting for one, for operators.
    public var snapshot: (riders: Int, busy: Int, waiting: Int) {
        state.withLock { state in (state.riders.count, state.riders.filter { !$0.route.isEmpty }.count, state.open.count) }
    }
}

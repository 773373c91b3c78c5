import Foundation
import LanternLedger
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// How a node shares campaigns with other nodes over one PostgreSQL database.
public struct SharingConfiguration: Sendable {
    /// How long a lease outlives its node's last renewal: a node killed outright holds its
    /// unused budget this long before another node returns it to the campaign.
    public var leaseTTL: Duration
    /// How many seconds of this node's own claim rate a lease is sized for.
    public var leaseHorizon: Double
    /// Users (with their cards) the node keeps in memory; beyond it, it forgets some.
    public var cachedUsers: Int
    /// Orders the node keeps in memory; beyond it, it forgets finished ones.
    public var cachedOrders: Int
    /// How often campaigns (created, extended, expired elsewhere) and budget figures are re-read.
    public var snapshotInterval: Duration
    /// How long a campaign goes without a claim here before this node gives back the budget it
    /// holds for it, so that nodes still claiming can lease it.
    public var idleReturn: Duration

    /// Creates a configuration; the defaults serve a campaign.
    public init(
        leaseTTL: Duration = .seconds(5), leaseHorizon: Double = 3, cachedUsers: Int = 200_000,
        cachedOrders: Int = 50_000, snapshotInterval: Duration = .milliseconds(500), idleReturn: Duration = .seconds(3)
    ) {
        self.leaseTTL = leaseTTL
        self.leaseHorizon = leaseHorizon
        self.cachedUsers = cachedUsers
        self.cachedOrders = cachedOrders
        self.snapshotInterval = snapshotInterval
        self.idleReturn = idleReturn
    }
}

/// One campaign's lease as this node sees it, for `/metrics` and the dashboard.
public struct NodeLease: Sendable, Equatable {
    /// The campaign.
    public var campaign: String
    /// Budget this node may still issue from its lease.
    public var allowanceFen: Int64
    /// Value this node issued per second, lately.
    public var claimRateFenPerSecond: Double
}

/// Keeps a node's share of the database current: it leases budget ahead of the node's claim
/// rate and gives back what an idle node holds, renews its leases and settles those of nodes
/// that died, re-reads campaigns and their accounting, and follows the order feed so that
/// orders changed on other nodes reach this node's cache and its customers' event streams.
/// At a graceful stop, after the engine has committed its last batch, it returns its leases.
public final class SharedLedgerKeeper: Service, Sendable {
    private struct CampaignPace {
        var lastIssuedFen: Int64 = 0
        var rateFenPerSecond: Double = 0
        var lastActive = ContinuousClock.now
    }

    private struct State {
        var pace: [String: CampaignPace] = [:]
        var extending: [String: Task<Void, Never>] = [:]
        /// Claims that found the allowance short since the last extension began, per campaign.
        var shortfalls: [String: Int64] = [:]
        var feedPosition: Int64 = 0
        var cluster: [LeaseStatus] = []
    }

    private let store: PostgresLedgerStore
    private let engine: LedgerEngine
    private let configuration: SharingConfiguration
    private let logger: Logger
    private let onOrderChanged: @Sendable (Order) -> Void
    private let isFollowed: @Sendable (String) -> Bool
    private let state = Mutex(State())
    /// Wakes the order follower: a notification from the database, or the catch-up tick.
    private let orderWakeups: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation) =
        AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    private let leaseExtensions: Counter

    /// Creates the keeper of `engine`'s share of `store`; `onOrderChanged` hears every order
    /// another node changed that this node holds or whose user `isFollowed` here (a customer
    /// watching their order's stream on this node).
    public init(
        store: PostgresLedgerStore, engine: LedgerEngine, configuration: SharingConfiguration = SharingConfiguration(),
        logger: Logger, metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        isFollowed: @escaping @Sendable (String) -> Bool = { _ in false },
        onOrderChanged: @escaping @Sendable (Order) -> Void = { _ in }
    ) {
        self.isFollowed = isFollowed
        self.store = store
        self.engine = engine
        self.configuration = configuration
        self.logger = logger
        self.onOrderChanged = onOrderChanged
        leaseExtensions = Counter(label: "lantern_lease_extensions_total", factory: metrics)
        engine.setLeaseRequester { [weak self] campaign in await self?.extendNow(campaign) }
    }

    /// This node's name in the database.
    public var node: String { store.node }

    /// This node's leases and claim rates, per campaign.
    public var leases: [NodeLease] {
        let rates = state.withLock { $0.pace.mapValues(\.rateFenPerSecond) }
        return (try? engine.read { book in
            book.allAccounts.compactMap { account -> NodeLease? in
                guard let allowance = account.allowanceFen else { return nil }
                return NodeLease(
                    campaign: account.campaign.id, allowanceFen: allowance,
                    claimRateFenPerSecond: rates[account.campaign.id] ?? 0)
            }
        }) ?? []
    }

    /// Every node's leases as the database last listed them (once a second).
    public var cluster: [LeaseStatus] { state.withLock { $0.cluster } }

    /// Runs until graceful shutdown, then returns this node's leases.
    public func run() async throws {
        if let position = try? await store.orderFeedPosition() { state.withLock { $0.feedPosition = position } }
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.every(.milliseconds(100)) { try await self.paceLeases() } }
                group.addTask { await self.every(self.configuration.snapshotInterval) { try await self.engine.refreshCampaigns() } }
                // NOTIFY wakes the follower at once; the tick catches up on anything a lost
                // notification (or connection) missed, since the feed is read by sequence number.
                group.addTask { await self.every(.seconds(1)) { try await self.listenForOrders() } }
                group.addTask { await self.every(.seconds(1)) { self.orderWakeups.continuation.yield() } }
                group.addTask {
                    for await _ in self.orderWakeups.stream {
                        do { try await self.followOrders() } catch {
                            self.logger.debug("order feed not read", metadata: ["error": "\(error)"])
                        }
                    }
                }
                group.addTask { await self.every(.seconds(1)) { try await self.maintain() } }
            }
        }
        do {
            try await store.releaseLeases()
            logger.info("returned this node's budget leases", metadata: ["node": "\(store.node)"])
        } catch {
            logger.warning("could not return budget leases; they lapse by themselves", metadata: ["error": "\(error)"])
        }
    }

    /// A call into the database that has not answered within a lease's lifetime is given up,
    /// so that one connection lost with the database (or a lock that is never released) cannot
    /// stop this node's leases for good: the next round asks again on another connection.
    private func bounded<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        let limit = configuration.leaseTTL
        return try await LedgerEngine.first(within: limit, orFail: KeeperTimeout(limit: limit), work).get()
    }

    private struct KeeperTimeout: Error, CustomStringConvertible {
        var limit: Duration
        var description: String { "the database did not answer within \(limit)" }
    }

    private func every(_ interval: Duration, _ body: () async throws -> Void) async {
        while !Task.isCancelled {
            do { try await body() } catch { logger.debug("shared ledger upkeep failed", metadata: ["error": "\(error)"]) }
            try? await Task.sleep(for: interval)
        }
    }

    /// Asks the database for more of `campaign`'s budget now, or waits for a request in flight.
    func extendNow(_ campaign: String, shortfall: Bool = true) async {
        let task = state.withLock { state -> Task<Void, Never> in
            if shortfall { state.shortfalls[campaign, default: 0] += 1 }
            if let running = state.extending[campaign] { return running }
            let task = Task { await self.extend(campaign) }
            state.extending[campaign] = task
            return task
        }
        await task.value
    }

    private func extend(_ campaign: String) async {
        defer { _ = state.withLock { $0.extending.removeValue(forKey: campaign) } }
        guard
            let (allowance, value) = engine.updateBook({ book in
                book.account(campaign).map { ($0.allowanceFen ?? 0, $0.campaign.cardValueFen) }
            }) ?? nil
        else { return }
        let (rate, shortfalls) = state.withLock { state in
            (state.pace[campaign]?.rateFenPerSecond ?? 0, state.shortfalls.removeValue(forKey: campaign) ?? 0)
        }
        // Enough for the claims that are waiting (twice over: more are on their way) and for
        // the horizon at this node's rate, whichever is more.
        let target = max(value * 16, Int64(rate * configuration.leaseHorizon), 2 * shortfalls * value)
        guard target > allowance else { return }
        do {
            let (store, ttl) = (self.store, configuration.leaseTTL)
            let grant = try await bounded { try await store.extendLease(campaign: campaign, wantFen: target - allowance, ttl: ttl) }
            leaseExtensions.increment()
            _ = engine.updateBook { $0.grantAllowance(grant, campaign: campaign) }
            // Short of what it asked: the claim waiting for it must know what is left elsewhere.
            if grant < target - allowance { try await engine.refreshCampaigns() }
        } catch {
            logger.warning("budget lease not extended", metadata: ["campaign": "\(campaign)", "error": "\(error)"])
        }
    }

    /// Measures each campaign's claim rate here, extends a lease about to run dry before a claim
    /// finds it empty, and gives back the allowance of a campaign nobody claims here any more.
    private func paceLeases() async throws {
        let now = Date()
        guard
            let accounts = engine.updateBook({ book in
                book.allAccounts.filter { $0.cardsExpiredAt == nil && now < $0.campaign.endsAt }
                    .map { (id: $0.campaign.id, issued: $0.issuedHereFen, allowance: $0.allowanceFen ?? 0, value: $0.campaign.cardValueFen) }
            })
        else { return }
        for account in accounts {
            let (rate, idle) = state.withLock { state -> (Double, Bool) in
                var pace = state.pace[account.id] ?? CampaignPace(lastIssuedFen: account.issued)
                let issued = account.issued - pace.lastIssuedFen
                // Ten ticks a second; the rate follows the last second or so.
                pace.rateFenPerSecond = pace.rateFenPerSecond * 0.8 + Double(issued) * 10 * 0.2
                pace.lastIssuedFen = account.issued
                if issued > 0 { pace.lastActive = .now }
                state.pace[account.id] = pace
                return (pace.rateFenPerSecond, ContinuousClock.now - pace.lastActive > configuration.idleReturn)
            }
            if idle {
                if account.allowance > 0, let taken = engine.updateBook({ $0.takeAllowance(campaign: account.id) }), taken > 0 {
                    let store = self.store
                    try await bounded { try await store.shrinkLease(campaign: account.id, byFen: taken) }
                }
            } else if rate > 0, Double(account.allowance) < max(Double(account.value) * 4, rate * configuration.leaseHorizon / 2) {
                await extendNow(account.id, shortfall: false)
            }
        }
    }

    /// Holds a connection that listens for the order feed's notifications until it fails.
    private func listenForOrders() async throws {
        try await store.client.withConnection { connection in
            try await connection.listen(on: "lantern_orders") { notifications in
                for try await _ in notifications { self.orderWakeups.continuation.yield() }
            }
        }
    }

    /// Applies order changes other nodes committed to the orders this node holds.
    private func followOrders() async throws {
        let position = state.withLock { $0.feedPosition }
        let store = self.store
        let entries = try await bounded { try await store.orderFeed(after: position) }
        guard let last = entries.last?.seq else { return }
        var followed: [String] = []
        let changed = engine.updateBook { book in
            entries.compactMap { entry -> Order? in
                guard case .orderChanged(let change) = entry.event else { return nil }
                if book.order(change.orderID) == nil, let user = entry.user, isFollowed(user) {
                    followed.append(change.orderID)
                }
                return book.cacheChange(change)
            }
        }
        state.withLock { $0.feedPosition = last }
        for order in changed ?? [] { onOrderChanged(order) }
        // An order placed on another node, watched here: load it as it is now and pass it on.
        for id in Set(followed) {
            try await engine.prepareOrder(id)
            if let order = try engine.read({ $0.order(id) }) { onOrderChanged(order) }
        }
    }

    /// Keeps this node's leases alive, settles those of nodes that stopped, and keeps the cache
    /// within its bounds.
    private func maintain() async throws {
        let rates = state.withLock { $0.pace.mapValues { Int64($0.rateFenPerSecond.rounded()) } }
        let (store, ttl) = (self.store, configuration.leaseTTL)
        try await bounded { try await store.renewLeases(ttl: ttl, claimRates: rates) }
        let settled = try await bounded { try await store.reclaimExpiredLeases() }
        let cluster = try await bounded { try await store.leaseStatuses() }
        state.withLock { $0.cluster = cluster }
        if settled > 0 { logger.notice("settled budget leases of stopped nodes", metadata: ["leases": "\(settled)"]) }
        _ = engine.updateBook { $0.trim(holdersTo: configuration.cachedUsers, ordersTo: configuration.cachedOrders) }
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import LanternApp
import LanternLedger
import LanternOrders
import LanternStorage
import Logging
import Metrics
import Prometheus
import Synchronization

/// Lantern's Prometheus registry and the swift-metrics factory over it. Each application owns
/// one (nothing is bootstrapped globally), so several servers in one process keep their own.
public final class LanternMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry
    /// The swift-metrics factory that records into `registry`.
    public let factory: PrometheusMetricsFactory

    private struct RouteKey: Hashable {
        var route: String
        var method: HTTPRequest.Method
        var status: Int
    }

    /// The counter and latency timer of one route, method and status.
    struct RouteInstruments: Sendable {
        var requests: Metrics.Counter
        var duration: Metrics.Timer
        /// The same latencies in buckets this process can read back, for the dashboard's history.
        var window: LatencyBuckets

        /// Counts one answered request that took `duration`.
        func record(duration: Duration) {
            requests.increment()
            self.duration.record(duration: duration)
            window.record(duration)
        }
    }

    private let routes = Mutex<[RouteKey: RouteInstruments]>([:])
    private let turns = Mutex<[String: Metrics.Counter]>([:])

    /// Creates an empty registry with Lantern's histogram buckets.
    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
        ]
        factory.valueHistogramBuckets["lantern_ledger_batch_operations"] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000]
        self.factory = factory
    }

    /// Counts one answered request and its latency, by route pattern, method and status.
    func recordRequest(route: String, method: HTTPRequest.Method, status: Int, duration: Duration) {
        routeInstruments(route: route, method: method, status: status).record(duration: duration)
    }

    /// The instruments `recordRequest` records into, for a caller that records often.
    func routeInstruments(route: String, method: HTTPRequest.Method, status: Int) -> RouteInstruments {
        let key = RouteKey(route: route, method: method, status: status)
        return routes.withLock { routes in
            if let known = routes[key] { return known }
            let dimensions = [("route", route), ("method", method.rawValue), ("status", String(status))]
            let made = RouteInstruments(
                requests: Metrics.Counter(label: "lantern_http_requests_total", dimensions: dimensions, factory: factory),
                duration: Metrics.Timer(
                    label: "lantern_http_request_duration_seconds", dimensions: dimensions, factory: factory),
                window: LatencyBuckets())
            routes[key] = made
            return made
        }
    }

    /// Every route's answers so far, by route, method and status: cumulative latency buckets.
    func routeLatencies() -> [(route: String, method: String, status: Int, buckets: [UInt64])] {
        routes.withLock { routes in routes.map { ($0.key.route, $0.key.method.rawValue, $0.key.status, $0.value.window.counts) } }
    }

    /// Counts one assistant turn by the engine that answered it (`offline`, `llm`, `offline-fallback`).
    func recordAssistantTurn(engine: String) {
        let counter = turns.withLock { turns in
            if let known = turns[engine] { return known }
            let made = Metrics.Counter(label: "lantern_assistant_turns_total", dimensions: [("engine", engine)], factory: factory)
            turns[engine] = made
            return made
        }
        counter.increment()
    }

    /// Sets the gauges that are read off live state at scrape time, then renders the registry
    /// in the Prometheus text format.
    func render(
        engine: LedgerEngine, admission: AdmissionControl, directory: MerchantDirectory, board: MerchantBoard,
        dispatch: DispatchService?, keeper: SharedLedgerKeeper? = nil
    ) throws -> [UInt8] {
        for lease in keeper?.leases ?? [] {
            let labels = [("campaign", lease.campaign), ("node", keeper!.node)]
            registry.makeGauge(name: "lantern_node_lease_allowance_fen", labels: labels, help: "Budget this node's lease still holds.")
                .set(Double(lease.allowanceFen))
            registry.makeGauge(name: "lantern_node_claim_rate_fen", labels: labels, help: "Value this node issues per second.")
                .set(lease.claimRateFenPerSecond)
        }
        let activity = admission.activity()
        registry.makeGauge(name: "lantern_admission_limit", help: "The adaptive concurrency limit on claims.")
            .set(activity.limit)
        registry.makeGauge(name: "lantern_admission_in_flight", help: "Claims being decided now.")
            .set(Double(activity.inFlight))
        registry.makeGauge(name: "lantern_admission_admitted", help: "Claims let through to the ledger since start.")
            .set(Double(activity.admitted))
        registry.makeGauge(name: "lantern_admission_queued", help: "Claims sent to a waiting room since start.")
            .set(Double(activity.queued))
        registry.makeGauge(name: "lantern_admission_rate_limited", help: "Requests answered 429 since start.")
            .set(Double(activity.rateLimited))
        try engine.read { book in
            for account in book.allAccounts {
                let labels = [("campaign", account.campaign.id)]
                registry.makeGauge(name: "lantern_queue_depth", labels: labels, help: "Tickets issued and not yet admitted.")
                    .set(Double(activity.waiting[account.campaign.id] ?? 0))
                registry.makeGauge(name: "lantern_queue_wait_seconds", labels: labels, help: "Wait a newcomer would have now.")
                    .set(activity.waitSeconds[account.campaign.id] ?? 0)
                registry.makeGauge(name: "lantern_campaign_remaining_fen", labels: labels, help: "Budget not yet committed.")
                    .set(Double(account.remainingFen))
                registry.makeGauge(name: "lantern_campaign_outstanding_fen", labels: labels, help: "Value of live cards.")
                    .set(Double(account.outstandingFen))
                registry.makeGauge(name: "lantern_campaign_spent_fen", labels: labels, help: "Value redeemed on orders.")
                    .set(Double(account.spentFen))
                registry.makeGauge(name: "lantern_campaign_cards_issued", labels: labels, help: "Cards issued so far.")
                    .set(Double(account.cardsIssued))
            }
            var byState: [OrderState: Int] = [:]
            for order in book.allOrders { byState[order.state, default: 0] += 1 }
            for state in OrderState.allCases {
                registry.makeGauge(name: "lantern_orders", labels: [("state", state.rawValue)], help: "Orders by state.")
                    .set(Double(byState[state] ?? 0))
            }
            // Only stores that have had orders can have a backlog: a scrape costs the busy
            // stores, not the whole city, while it holds the ledger's lock.
            var backlogCups = 0
            var busiestMinutes = 0.0
            var overTwentyMinutes = 0
            for (merchant, cups) in book.unmadeCupsByMerchant where cups > 0 {
                guard let store = directory.store(id: merchant) else { continue }
                backlogCups += cups
                let minutes = AutoPause.backlogMinutes(cups, store: store)
                busiestMinutes = max(busiestMinutes, minutes)
                if minutes >= 20 { overTwentyMinutes += 1 }
            }
            registry.makeGauge(name: "lantern_store_backlog_cups", help: "Cups ordered and not yet made, all stores.")
                .set(Double(backlogCups))
            registry.makeGauge(name: "lantern_store_backlog_minutes_max", help: "The busiest store's backlog in minutes.")
                .set(busiestMinutes)
            registry.makeGauge(name: "lantern_stores_backlog_over_20_minutes", help: "Stores with 20 minutes or more of work.")
                .set(Double(overTwentyMinutes))
            registry.makeGauge(name: "lantern_stores_paused", help: "Stores paused by staff or by the backlog.")
                .set(Double(board.pausedStores().count))
        }
        if let riders = dispatch?.snapshot {
            registry.makeGauge(name: "lantern_riders", help: "Simulated riders.").set(Double(riders.riders))
            registry.makeGauge(name: "lantern_riders_busy", help: "Riders with work.").set(Double(riders.busy))
            registry.makeGauge(name: "lantern_dispatch_orders_waiting", help: "Orders not yet given to a rider.")
                .set(Double(riders.waiting))
        }
        return registry.emitToBuffer()
    }
}

/// Outermost middleware: gives every answer an `X-Request-Id` (the id on the request's log
/// lines), counts it in the metrics by route pattern and status, and logs it at debug level
/// (server errors at error level).
struct RequestObservationMiddleware: RouterMiddleware {
    typealias Context = LanternRequestContext
    let metrics: LanternMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let started = ContinuousClock.now
        let status: Int
        var response: Response
        do {
            response = try await next(request, context)
            status = response.status.code
        } catch {
            status = (error as? any HTTPResponseError)?.status.code ?? 500
            observe(request, context: context, status: status, started: started)
            throw error
        }
        response.headers[.requestID] = context.id
        observe(request, context: context, status: status, started: started)
        return response
    }

    private func observe(_ request: Request, context: Context, status: Int, started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        let route = context.endpointPath ?? "unmatched"
        metrics.recordRequest(route: route, method: request.method, status: status, duration: elapsed)
        let level: Logger.Level = status >= 500 ? .error : .debug
        guard context.logger.logLevel <= level else { return }
        context.logger.log(
            level: level, "answered",
            metadata: [
                "method": .string(request.method.rawValue), "path": .string(request.uri.path), "route": .string(route),
                "status": .stringConvertible(status),
                "duration_ms": .string(String(format: "%.3f", elapsed.secondsValue * 1_000)),
            ])
    }
}

extension HTTPField.Name {
    /// `X-Request-Id`: the id of the request on Lantern's log lines.
    static let requestID = Self("X-Request-Id")!
}

/// Latencies counted in fixed buckets, each 25 % wider than the one before from 50 µs to about
/// 30 s: what a dashboard needs for p50 and p99 within a bucket's width, read back by the
/// process itself (Prometheus's histograms are written out, not read). One small lock, held
/// for an increment.
final class LatencyBuckets: Sendable {
    /// Upper bounds in seconds; a last bucket takes everything slower.
    static let bounds: [Double] = (0..<60).map { 0.000_05 * pow(1.25, Double($0)) }
    private let buckets = Mutex([UInt64](repeating: 0, count: LatencyBuckets.bounds.count + 1))

    /// Counts one latency.
    func record(_ duration: Duration) {
        let seconds = duration.secondsValue
        var low = 0
        var high = Self.bounds.count
        while low < high {
            let middle = (low + high) / 2
            if Self.bounds[middle] < seconds { low = middle + 1 } else { high = middle }
        }
        buckets.withLock { $0[low] += 1 }
    }

    /// Counts so far, bucket by bucket.
    var counts: [UInt64] { buckets.withLock { $0 } }

    /// The latency at `fraction` of `counts` (the bucket's upper bound, seconds); nil for none.
    static func quantile(_ counts: [UInt64], _ fraction: Double) -> Double? {
        let total = counts.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = UInt64((fraction * Double(total)).rounded(.up))
        var seen: UInt64 = 0
        for (index, count) in counts.enumerated() {
            seen += count
            if seen >= max(1, rank) { return index < bounds.count ? bounds[index] : bounds[bounds.count - 1] * 1.25 }
        }
        return nil
    }
}

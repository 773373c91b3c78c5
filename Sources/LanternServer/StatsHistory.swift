import Foundation
import LanternLedger
import ServiceLifecycle
import Synchronization

/// The dashboard's memory: once a second this node records its campaigns' budgets, the waiting
/// rooms, admission, orders, riders, store load and every route's answers and latency, and keeps
/// the last hour second by second and the last week minute by minute. A dashboard opened after
/// a spike draws the spike.
///
/// It is this node's memory (what it answered); the campaign report reads the database.
public final class StatsHistory: Service, Sendable {
    /// One campaign at one moment.
    struct CampaignPoint: Sendable {
        var id: String
        var budgetFen: Int64
        var remainingFen: Int64
        var outstandingFen: Int64
        var spentFen: Int64
        var cards: Int
        var waiting: Int
        var waitSeconds: Int
    }

    /// One route's answers over the point's interval.
    struct RoutePoint: Sendable {
        /// `METHOD /pattern`.
        var route: String
        var requests: Int
        var clientErrors: Int
        var serverErrors: Int
        /// Latency in seconds at the median and the 99th percentile, within a bucket (25 %).
        var p50: Double?
        var p99: Double?
    }

    /// What the node looked like at `atMs`, and what it answered since the point before.
    struct Point: Sendable {
        var atMs: Int64
        var campaigns: [CampaignPoint]
        /// Cumulative counts since the node started.
        var admitted: Int
        var queued: Int
        var rateLimited: Int
        var ordersByState: [String: Int]
        var ridersBusy: Int
        var ridersTotal: Int
        /// The most minutes of work waiting at one store, and how many stores are paused.
        var maxBacklogMinutes: Int
        var pausedStores: Int
        var routes: [RoutePoint]
        /// Every route together.
        var p50: Double?
        var p99: Double?
    }

    /// What the sampler reads each second; orders by state and store load are read every tenth
    /// second (a look at every store) and carried forward in between.
    struct Sample: Sendable {
        var campaigns: [CampaignPoint]
        var admitted: Int
        var queued: Int
        var rateLimited: Int
        var ridersBusy: Int
        var ridersTotal: Int
    }

    /// Orders and store load, read less often.
    struct Load: Sendable {
        var ordersByState: [String: Int]
        var maxBacklogMinutes: Int
        var pausedStores: Int
    }

    /// A route's answers over an interval: latency buckets and errors.
    private struct RouteCounts {
        var buckets = [UInt64](repeating: 0, count: LatencyBuckets.bounds.count + 1)
        var client = 0
        var server = 0

        mutating func add(_ other: RouteCounts) {
            buckets = zip(buckets, other.buckets).map(+)
            client += other.client
            server += other.server
        }
    }

    private struct State {
        var seconds: [Point] = []
        var minutes: [Point] = []
        /// Cumulative buckets per route key and status at the last sample.
        var lastBuckets: [String: [UInt64]] = [:]
        /// Answers of the minute under way, per route key.
        var minute: [String: RouteCounts] = [:]
        var load = Load(ordersByState: [:], maxBacklogMinutes: 0, pausedStores: 0)
        var ticks = 0
    }

    static let secondsKept = 3_600
    static let minutesKept = 7 * 24 * 60

    private let state = Mutex(State())
    private let metrics: LanternMetrics
    private let sample: @Sendable () throws -> Sample
    private let load: @Sendable () throws -> Load
    private let clock: @Sendable () -> Date

    /// A history over `metrics`' routes and what `sample` and `load` read.
    init(
        metrics: LanternMetrics, clock: @escaping @Sendable () -> Date, sample: @escaping @Sendable () throws -> Sample,
        load: @escaping @Sendable () throws -> Load
    ) {
        self.metrics = metrics
        self.clock = clock
        self.sample = sample
        self.load = load
    }

    /// Records a point a second until shutdown.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: .seconds(1))
                self.record()
            }
        }
    }

    /// Takes one point now (the service does, each second; tests call it themselves).
    func record() {
        guard let sampled = try? sample() else { return }
        let loaded = state.withLock { $0.ticks % 10 == 0 } ? try? load() : nil
        let latencies = metrics.routeLatencies()
        let atMs = clock().millisecondsSince1970
        state.withLock { state in
            state.ticks += 1
            if let loaded { state.load = loaded }
            // This second's answers by route: the growth of each route's cumulative buckets.
            var perRoute: [String: RouteCounts] = [:]
            for entry in latencies {
                let key = "\(entry.method) \(entry.route)"
                let statusKey = "\(key) \(entry.status)"
                let previous = state.lastBuckets[statusKey] ?? Array(repeating: 0, count: entry.buckets.count)
                state.lastBuckets[statusKey] = entry.buckets
                var delta = RouteCounts()
                delta.buckets = zip(entry.buckets, previous).map { $0 - min($0, $1) }
                let count = Int(delta.buckets.reduce(0, +))
                guard count > 0 else { continue }
                if (400..<500).contains(entry.status) { delta.client = count }
                if entry.status >= 500 { delta.server = count }
                perRoute[key, default: RouteCounts()].add(delta)
            }
            // A minute's point when the minute turns: its last gauges and all its answers.
            if let previous = state.seconds.last, previous.atMs / 60_000 != atMs / 60_000 {
                var minute = previous
                minute.routes = Self.routes(state.minute)
                (minute.p50, minute.p99) = Self.quantiles(state.minute)
                state.minutes.append(minute)
                if state.minutes.count > Self.minutesKept { state.minutes.removeFirst(state.minutes.count - Self.minutesKept) }
                state.minute = [:]
            }
            for (key, counts) in perRoute { state.minute[key, default: RouteCounts()].add(counts) }
            var point = Point(
                atMs: atMs, campaigns: sampled.campaigns, admitted: sampled.admitted, queued: sampled.queued,
                rateLimited: sampled.rateLimited, ordersByState: state.load.ordersByState, ridersBusy: sampled.ridersBusy,
                ridersTotal: sampled.ridersTotal, maxBacklogMinutes: state.load.maxBacklogMinutes,
                pausedStores: state.load.pausedStores, routes: Self.routes(perRoute), p50: nil, p99: nil)
            (point.p50, point.p99) = Self.quantiles(perRoute)
            state.seconds.append(point)
            if state.seconds.count > Self.secondsKept { state.seconds.removeFirst(state.seconds.count - Self.secondsKept) }
        }
    }

    /// Every route together: p50 and p99.
    private static func quantiles(_ perRoute: [String: RouteCounts]) -> (Double?, Double?) {
        var all = RouteCounts()
        for counts in perRoute.values { all.add(counts) }
        return (LatencyBuckets.quantile(all.buckets, 0.5), LatencyBuckets.quantile(all.buckets, 0.99))
    }

    private static func routes(_ perRoute: [String: RouteCounts]) -> [RoutePoint] {
        perRoute.sorted { $0.key < $1.key }.map { key, counts in
            RoutePoint(
                route: key, requests: Int(counts.buckets.reduce(0, +)), clientErrors: counts.client, serverErrors: counts.server,
                p50: LatencyBuckets.quantile(counts.buckets, 0.5), p99: LatencyBuckets.quantile(counts.buckets, 0.99))
        }
    }

    /// The points kept at `resolution`, oldest first, from `sinceMs` on.
    func points(minutes: Bool, sinceMs: Int64 = 0) -> [Point] {
        state.withLock { state in (minutes ? state.minutes : state.seconds).filter { $0.atMs >= sinceMs } }
    }
}

extension StatsHistory.Point {
    /// The point as the dashboard reads it.
    func write(into json: inout JSONWriter) {
        json.beginObject()
        json.field("at_ms", atMs)
        json.beginArray("campaigns")
        for campaign in campaigns {
            json.beginObject()
            json.field("id", campaign.id)
            json.field("budget_fen", campaign.budgetFen)
            json.field("remaining_fen", campaign.remainingFen)
            json.field("outstanding_fen", campaign.outstandingFen)
            json.field("spent_fen", campaign.spentFen)
            json.field("cards", campaign.cards)
            json.field("waiting", campaign.waiting)
            json.field("wait_s", campaign.waitSeconds)
            json.endObject()
        }
        json.endArray()
        json.field("admitted", admitted)
        json.field("queued", queued)
        json.field("rate_limited", rateLimited)
        json.beginObject("orders")
        for (state, count) in ordersByState.sorted(by: { $0.key < $1.key }) { json.field(state, count) }
        json.endObject()
        json.field("riders_busy", ridersBusy)
        json.field("riders_total", ridersTotal)
        json.field("max_backlog_minutes", maxBacklogMinutes)
        json.field("paused_stores", pausedStores)
        if let p50 { json.field("p50_ms", p50 * 1_000) }
        if let p99 { json.field("p99_ms", p99 * 1_000) }
        json.beginArray("routes")
        for route in routes {
            json.beginObject()
            json.field("route", route.route)
            json.field("requests", route.requests)
            json.field("client_errors", route.clientErrors)
            json.field("server_errors", route.serverErrors)
            if let p50 = route.p50 { json.field("p50_ms", p50 * 1_000) }
            if let p99 = route.p99 { json.field("p99_ms", p99 * 1_000) }
            json.endObject()
        }
        json.endArray()
        json.endObject()
    }
}

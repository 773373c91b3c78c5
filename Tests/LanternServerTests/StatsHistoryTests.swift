import Foundation
import Synchronization
import Testing

@testable import LanternServer

@Suite("The dashboard's memory")
struct StatsHistoryTests {
    @Test("Each second's answers by route with p50, p99 and errors; a minute's point when the minute turns")
    func pointsBySecondAndMinute() {
        let metrics = LanternMetrics()
        let now = Mutex(Date(timeIntervalSince1970: 1_800_000_000))  // on a minute's boundary
        let sample = StatsHistory.Sample(
            campaigns: [
                StatsHistory.CampaignPoint(
                    id: "spring", budgetFen: 10_000, remainingFen: 7_500, outstandingFen: 2_000, spentFen: 500, cards: 4,
                    waiting: 3, waitSeconds: 2)
            ], admitted: 4, queued: 3, rateLimited: 0, ridersBusy: 1, ridersTotal: 5)
        let history = StatsHistory(
            metrics: metrics, clock: { now.withLock { $0 } }, sample: { sample },
            load: { StatsHistory.Load(ordersByState: ["placed": 2], maxBacklogMinutes: 7, pausedStores: 1) })
        for _ in 0..<98 { metrics.recordRequest(route: "/v1/x", method: .post, status: 201, duration: .milliseconds(2)) }
        metrics.recordRequest(route: "/v1/x", method: .post, status: 422, duration: .milliseconds(1))
        metrics.recordRequest(route: "/v1/x", method: .post, status: 503, duration: .milliseconds(900))
        history.record()

        let first = history.points(minutes: false)
        #expect(first.count == 1)
        let route = first.first?.routes.first
        #expect(route?.route == "POST /v1/x")
        #expect(route?.requests == 100)
        #expect(route?.clientErrors == 1)
        #expect(route?.serverErrors == 1)
        // Buckets are 25 % wide: the median of 2 ms answers is read as 2…2.5 ms, the 99th
        // percentile of a hundred with one at 900 ms as at least 2 ms and under 1.125 s.
        #expect((0.002...0.0025).contains(route?.p50 ?? 0))
        #expect((0.002...1.125).contains(route?.p99 ?? 0))
        #expect(first.first?.campaigns.first?.waiting == 3)
        #expect(first.first?.ordersByState["placed"] == 2)
        #expect(first.first?.maxBacklogMinutes == 7)

        // A quiet second has no answers; the minute has not turned, so there is no minute yet.
        now.withLock { $0 += 1 }
        history.record()
        #expect(history.points(minutes: false).last?.routes.isEmpty == true)
        #expect(history.points(minutes: true).isEmpty)

        now.withLock { $0 += 60 }
        metrics.recordRequest(route: "/v1/x", method: .post, status: 201, duration: .milliseconds(2))
        history.record()
        let minutes = history.points(minutes: true)
        #expect(minutes.count == 1)
        #expect(minutes.first?.routes.first?.requests == 100)
        #expect(minutes.first?.routes.first?.serverErrors == 1)
        #expect(history.points(minutes: false).last?.routes.first?.requests == 1)
        #expect(history.points(minutes: false, sinceMs: Int64(1_800_000_002_000)).count == 1)
    }

    @Test("GET /v1/admin/history is for admins, by second or by minute")
    func historyRoute() async throws {
        try await withTestApp(.sqlite) { app in
            let reply = try await app.send(.get, "/v1/admin/history", as: "ops", role: .admin)
            #expect(reply.status == .ok)
            #expect(reply.json["resolution"] as? String == "second")
            #expect(reply.json["points"] is [Any])
            #expect(try await app.send(.get, "/v1/admin/history?resolution=minute", as: "ops", role: .admin).status == .ok)
            #expect(try await app.send(.get, "/v1/admin/history?resolution=hour", as: "ops", role: .admin).status == .badRequest)
            #expect(try await app.send(.get, "/v1/admin/history", as: "ann").status == .forbidden)
        }
    }
}

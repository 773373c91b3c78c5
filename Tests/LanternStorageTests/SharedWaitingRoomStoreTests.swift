import Foundation
import PostgresNIO
import Testing

@testable import LanternStorage

/// The waiting room several nodes share in PostgreSQL, on a real server.
@Suite(.enabled(if: postgresServerURL != nil, "needs LANTERN_TEST_POSTGRES_URL (scripts/test starts a server)"))
struct SharedWaitingRoomStoreTests {
    /// Runs `body` with the stores of nodes `a` and `b` and a third session, all on one scratch database.
    func withNodes(
        _ body: (PostgresLedgerStore, PostgresLedgerStore, PostgresLedgerStore) async throws -> Void
    ) async throws {
        try await withScratchPostgres { url in
            let a = try PostgresLedgerStore(url: url, logger: logger, node: "a")
            let b = try PostgresLedgerStore(url: url, logger: logger, node: "b")
            let other = try PostgresLedgerStore(url: url, logger: logger, node: "other")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for store in [a, b, other] { group.addTask { await store.client.run() } }
                try await a.migrate()
                try await body(a, b, other)
                group.cancelAll()
            }
        }
    }

    func sync(_ store: PostgresLedgerStore, places: UInt64 = 0) async throws -> Double {
        try await store.syncWaitingRoom(
            campaign: "c", startsAt: Date(timeIntervalSince1970: 0), places: places, rate: 1, paused: false, seed: 7
        ).admitted
    }

    @Test(.timeLimit(.minutes(1))) func syncsCommittedOutOfOrderDoNotCountTheSameTimeTwice() async throws {
        try await withNodes { a, b, other in
            let rate = 1_000.0
            try await a.setWaitingRoomRate(campaign: "c", perSecond: rate, seed: 7)
            let started = ContinuousClock.now
            let first = try await sync(b, places: 10_000_000)
            _ = try await sync(a)
            // Node b's next sync begins, then waits on its own row, which another session holds...
            let (held, holding) = AsyncStream<Void>.makeStream()
            let (release, releasing) = AsyncStream<Void>.makeStream()
            let holder = Task {
                try await other.client.withTransaction(logger: logger) { connection in
                    try await connection.query(
                        "SELECT 1 FROM waiting_room_nodes WHERE campaign = 'c' AND node = 'b' FOR UPDATE", logger: logger)
                    holding.yield()
                    for await _ in release { break }
                }
            }
            for await _ in held { break }
            let late = Task { try await sync(b) }
            while try await waitingLocks(other) == 0 { await Task.yield() }
            // ...while node a, whose transaction begins a while later, moves the frontier and commits.
            try await Task.sleep(for: .milliseconds(300))
            let byA = try await sync(a)
            releasing.finish()
            try await holder.value
            let byB = try await late.value
            let last = try await sync(a)
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            // Node b's sync began before node a's: the frontier stays where a left it, and the
            // whole run moves it by no more than the time it took at the campaign's rate.
            #expect(byB == byA)
            #expect(last - first <= rate * seconds, "moved \(last - first) in \(seconds) s at \(rate)/s")
            #expect(last - first >= rate * 0.3)
        }
    }

    /// Lock requests in the database still waiting to be granted.
    func waitingLocks(_ store: PostgresLedgerStore) async throws -> Int64 {
        let rows = try await store.client.query("SELECT count(*) FROM pg_locks WHERE NOT granted", logger: logger)
        for try await count in rows.decode(Int64.self) { return count }
        return 0
    }
}

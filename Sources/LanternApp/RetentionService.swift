import Foundation
import LanternStorage
import Logging
import ServiceLifecycle

/// Keeps raw personal data only as long as the operator said: what customers typed to the
/// assistant, and the delivery addresses of orders once they have ended. Runs at start and
/// every hour; with `days` 0 it keeps everything.
///
/// Cards, orders and their accounting stay for the life of the database (they are the ledger);
/// an erased order keeps its point only as the centre of its cell of about 500 m, the grain of
/// the report's exports.
package struct RetentionService: Service {
    /// Days raw events are kept.
    let days: Int
    let engine: LedgerEngine
    let sessions: AssistantSessions
    let logger: Logger
    let clock: @Sendable () -> Date

    /// Creates the sweeper, keeping raw events `days` days (0: for ever).
    package init(
        days: Int, engine: LedgerEngine, sessions: AssistantSessions, logger: Logger, clock: @escaping @Sendable () -> Date
    ) {
        self.days = days
        self.engine = engine
        self.sessions = sessions
        self.logger = logger
        self.clock = clock
    }

    /// One pass: erases what is older than `days` before `nowMs`; answers what went.
    package func sweep(nowMs: Int64) async throws -> (addresses: Int, sessions: Int) {
        guard days > 0 else { return (0, 0) }
        let cutoff = nowMs - Int64(days) * 86_400_000
        let addresses = try await engine.eraseAddresses(endedBeforeMs: cutoff)
        let sessions = try await sessions.delete(lastTurnBeforeMs: cutoff)
        if addresses + sessions > 0 {
            logger.info("retention erased old raw data", metadata: ["addresses": "\(addresses)", "sessions": "\(sessions)", "days": "\(days)"])
        }
        return (addresses, sessions)
    }

    /// Sweeps a minute after start (not delaying readiness) and then every hour, until shutdown.
    package func run() async throws {
        guard days > 0 else {
            try? await gracefulShutdown()
            return
        }
        try? await cancelWhenGracefulShutdown {
            var pause = Duration.seconds(60)
            while true {
                try await Task.sleep(for: pause)
                pause = .seconds(3_600)
                do {
                    _ = try await sweep(nowMs: clock().millisecondsSince1970)
                } catch is LedgerUnavailable {
                } catch {
                    logger.warning("retention sweep failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

import Foundation
import LanternAssistant
import LanternStorage
import Logging
import ServiceLifecycle
import Synchronization

/// Assistant sessions: kept in memory for the turn path, written behind to the store so they
/// survive a restart. Writes for one session are coalesced and land in order; a graceful
/// shutdown writes everything pending before the store closes.
public final class AssistantSessions: Service, Sendable {
    private struct State {
        var live: [String: AssistantSession] = [:]
        var dirty: [String: AssistantSession] = [:]
        var wake: CheckedContinuation<Void, Never>?
        var draining = false
    }

    private let store: any LedgerStore
    private let logger: Logger
    private let state = Mutex(State())

    /// Sessions over `store`.
    public init(store: any LedgerStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// The session `id`, from memory or else from the store.
    package func load(_ id: String) async throws -> AssistantSession? {
        if let session = state.withLock({ $0.live[id] }) { return session }
        guard let bytes = try await store.loadState(key: "assistant:" + id) else { return nil }
        return try? JSONDecoder().decode(AssistantSession.self, from: Data(bytes))
    }

    /// Deletes the sessions whose last turn is older than `ms`, here and in the store (each
    /// session is saved at its last turn); returns how many the store deleted.
    package func delete(lastTurnBeforeMs ms: Int64) async throws -> Int {
        state.withLock { state in
            state.live = state.live.filter { $0.value.updatedAtMs >= ms }
            state.dirty = state.dirty.filter { $0.value.updatedAtMs >= ms }
        }
        return try await store.deleteState(prefix: "assistant:", savedBeforeMs: ms)
    }

    /// Keeps `session` and queues it for the store.
    package func save(_ session: AssistantSession) {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.live[session.id] = session
            state.dirty[session.id] = session
            if state.live.count > 100_000 {
                // Idle sessions leave memory; the store still has them.
                let cutoff = session.updatedAtMs - AssistantSession.idleLimitMs
                state.live = state.live.filter { $0.value.updatedAtMs >= cutoff }
            }
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }

    /// Writes queued sessions until graceful shutdown or cancellation (the service group cancels
    /// its services when one of them fails), then writes the rest.
    public func run() async throws {
        await untilStopped {
            while true {
                let batch = await nextBatch()
                if batch.isEmpty { return }
                for session in batch {
                    do {
                        try await store.saveJSON(session, key: "assistant:" + session.id)
                    } catch {
                        logger.warning("assistant session not saved", metadata: ["session": "\(session.id)", "error": "\(error)"])
                    }
                }
            }
        } drain: {
            self.drain()
        }
    }

    /// Lets the writer write what is queued and stop.
    private func drain() {
        let wake = state.withLock { state in
            state.draining = true
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }

    /// The sessions waiting to be written; empty once draining with nothing left.
    private func nextBatch() async -> [AssistantSession] {
        while true {
            let (batch, draining) = state.withLock { state in
                let batch = Array(state.dirty.values)
                state.dirty = [:]
                return (batch, state.draining)
            }
            if !batch.isEmpty || draining { return batch }
            await withCheckedContinuation { (wake: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state in
                    if !state.dirty.isEmpty || state.draining { return true }
                    state.wake = wake
                    return false
                }
                if now { wake.resume() }
            }
        }
    }
}

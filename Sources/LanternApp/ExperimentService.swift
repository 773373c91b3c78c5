import Foundation
import LanternLedger
import LanternOrders
import LanternStorage
import Logging
import ServiceLifecycle
import Synchronization

/// The campaign's experiments as the server runs them: which policy applies to a user's
/// order, definitions and stops saved in the store for every node sharing it, and the
/// guardrail, which counts each variant's finished orders as they finish and stops a variant
/// the moment it passes a bound.
///
/// Every node counts the orders it sees finish (over PostgreSQL, the order feed brings other
/// nodes' changes in) and may stop a variant; a stop is saved before it is acknowledged.
public final class ExperimentService: Service, Sendable {
    /// Key of the experiments in the store, where the report reads them.
    public static let key = "experiments"

    private struct State {
        var experiments: [Experiment] = []
        /// Finished orders counted, by experiment id and variant.
        var counts: [String: [GuardrailCounts]] = [:]
        /// Orders already counted, by experiment id.
        var counted: [String: Set<String>] = [:]
    }

    private let state = Mutex(State())
    private let store: any LedgerStore
    private let experimentHash: ExperimentHash
    private let audit: AuditRecorder
    private let logger: Logger
    private let clock: @Sendable () -> Date
    private let saves = SerialSaves()

    /// The keyed hash of an experiment and a user that assigns the user's variant.
    package typealias ExperimentHash = @Sendable (_ experiment: String, _ user: String) -> UInt64

    /// Creates the service over `store`; users are assigned by `experimentHash`, and every
    /// definition, end and stop is written to the operators' audit log through `audit` before
    /// it is acknowledged.
    package init(
        store: any LedgerStore, experimentHash: @escaping ExperimentHash, audit: @escaping AuditRecorder, logger: Logger,
        clock: @escaping @Sendable () -> Date
    ) {
        self.store = store
        self.experimentHash = experimentHash
        self.audit = audit
        self.logger = logger
        self.clock = clock
    }

    /// Every experiment, newest first.
    package var all: [Experiment] { state.withLock { $0.experiments.reversed() } }

    /// An experiment by id.
    package func experiment(_ id: String) -> Experiment? { state.withLock { $0.experiments.first { $0.id == id } } }

    /// Guardrail counts of an experiment's variants, as this node has them.
    package func counts(_ id: String) -> [GuardrailCounts] { state.withLock { $0.counts[id] ?? [] } }

    /// How an order paid with `cardID` by `user` is routed now: by the variant of a running
    /// routing experiment on the card's campaign, or Lantern's own policy.
    package func routing(cardID: String?, user: String) -> RoutingPolicy {
        value(of: .routing, cardID: cardID, user: user, atMs: clock().millisecondsSince1970).flatMap(RoutingPolicy.init) ?? .soonest
    }

    /// How riders are given `order`: by the variant of a dispatch experiment on its card's
    /// campaign that ran when it was placed (where the report counts it), or Lantern's own.
    package func dispatch(_ order: Order) -> DispatchPolicy {
        value(of: .dispatch, cardID: order.draft.cardID, user: order.draft.user, atMs: order.placedAtMs)
            .flatMap(DispatchPolicy.init) ?? .planned
    }

    /// The value of `policy` for an order of `user`'s paid with `cardID` at `ms`: that of the
    /// variant in effect for them then; nil outside every experiment over it.
    private func value(of policy: ExperimentPolicy, cardID: String?, user: String, atMs ms: Int64) -> String? {
        guard let cardID else { return nil }
        guard
            let experiment = state.withLock({ state in
                state.experiments.first {
                    $0.policy == policy && $0.startedAt.millisecondsSince1970 <= ms && $0.isRunning(atMs: ms) && $0.covers(cardID: cardID)
                }
            })
        else { return nil }
        return experiment.variants[experiment.effective(hash: experimentHash(experiment.id, user), atMs: ms)].value
    }

    /// Defines an experiment, durably; refused when its id is taken or the campaign already
    /// runs an experiment over the same policy (a user would be in two arms at once).
    package func define(_ experiment: Experiment, by admin: Identity) async throws {
        try await saves.run {
            var saved = try await self.saved()
            if saved.contains(where: { $0.id == experiment.id }) {
                throw Refusal(.conflict, "experiment_exists", "there is already an experiment '\(experiment.id)'")
            }
            let nowMs = self.clock().millisecondsSince1970
            if let running = saved.first(where: {
                $0.campaign == experiment.campaign && $0.policy == experiment.policy && $0.isRunning(atMs: nowMs)
            }) {
                throw Refusal(
                    .conflict, "experiment_running", "campaign '\(experiment.campaign)' already runs experiment '\(running.id)' over \(experiment.policy.rawValue); end it first")
            }
            saved.append(experiment)
            try await self.store.saveJSON(saved, key: Self.key)
            self.apply(saved)
        }
        try await audit(
            "experiment.define", admin, experiment.id,
            [
                ("campaign", experiment.campaign), ("policy", experiment.policy.rawValue),
                ("variants", experiment.variants.map { "\($0.name)=\($0.value)×\($0.weight)" }.joined(separator: " ")),
            ])
    }

    /// Ends an experiment: from now on nobody is assigned, and its report covers what came before.
    package func end(_ id: String, by admin: Identity) async throws -> Experiment {
        let (ended, changed) = try await change(id) { experiment in
            guard experiment.endedAt == nil else { return false }
            experiment.endedAt = self.clock()
            return true
        }
        if changed { try await audit("experiment.end", admin, id, []) }
        return ended
    }

    /// Stops one variant, as the guardrail does: its users get the control from now on.
    package func stop(_ id: String, variant: Int, reason: String, by actor: Identity) async throws -> Experiment {
        let (stopped, changed) = try await change(id) { experiment in
            guard experiment.variants.indices.contains(variant) else {
                throw Refusal(.notFound, "variant_not_found", "experiment '\(id)' has no variant \(variant)")
            }
            guard variant != 0 else {
                throw Refusal(.conflict, "control_not_stoppable", "the control takes the stopped variants' users; end the experiment instead")
            }
            // Stopped already (by another node's guardrail, say): nothing changes, nothing is audited.
            guard experiment.stoppedAtMs(variant) == nil else { return false }
            experiment.stops.append(Experiment.Stop(variant: variant, atMs: self.clock().millisecondsSince1970, reason: reason))
            return true
        }
        if changed {
            try await audit("experiment.stop", actor, id, [("variant", stopped.variants[variant].name), ("reason", reason)])
        }
        return stopped
    }

    /// Counts a changed order for the guardrail, once it has finished, and stops a variant it
    /// pushes past a bound.
    package func record(_ order: Order) async {
        guard order.state.isFinal, let card = order.draft.cardID else { return }
        let hashes = state.withLock { state in
            state.experiments.filter { $0.covers(cardID: card) && $0.startedAt.millisecondsSince1970 <= order.placedAtMs }
        }.map { ($0, experimentHash($0.id, order.draft.user)) }
        for (experiment, hash) in hashes {
            let variant = experiment.effective(hash: hash, atMs: order.placedAtMs)
            let verdict = state.withLock { state -> String? in
                guard state.counted[experiment.id, default: []].insert(order.id).inserted else { return nil }
                var counts = state.counts[experiment.id] ?? Array(repeating: GuardrailCounts(), count: experiment.variants.count)
                counts[variant].add(order)
                state.counts[experiment.id] = counts
                let current = state.experiments.first { $0.id == experiment.id } ?? experiment
                return current.isRunning(atMs: clock().millisecondsSince1970)
                    ? current.verdict(variant: variant, outcomes: counts[variant]) : nil
            }
            guard let verdict else { continue }
            do {
                _ = try await stop(experiment.id, variant: variant, reason: verdict, by: Identity(userID: "guardrail", role: .admin))
                logger.notice(
                    "guardrail stopped a variant",
                    metadata: ["experiment": "\(experiment.id)", "variant": "\(experiment.variants[variant].name)", "reason": "\(verdict)"])
            } catch {
                logger.warning("guardrail could not save a stop", metadata: ["experiment": "\(experiment.id)", "error": "\(error)"])
            }
        }
    }

    /// Loads the saved experiments and counts the finished orders the book holds that they
    /// cover; with no experiment, start-up does not look at the orders at all.
    package func restore(from engine: LedgerEngine) async throws {
        let experiments = try await saved()
        apply(experiments)
        guard let since = experiments.map({ $0.startedAt.millisecondsSince1970 }).min() else { return }
        let finished = try engine.read { book in
            book.allOrders.filter { order in
                order.state.isFinal && order.placedAtMs >= since
                    && order.draft.cardID.map { card in experiments.contains { $0.covers(cardID: card) } } == true
            }
        }
        for order in finished { await record(order) }
    }

    /// Picks up experiments defined or stopped on other nodes every two seconds, until shutdown.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: .seconds(2))
                do {
                    try await self.saves.run { self.apply(try await self.saved()) }
                } catch {
                    self.logger.warning("could not read experiments", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Applies `edit` to the experiment as saved and saves the result when `edit` says it changed it.
    private func change(_ id: String, _ edit: @escaping @Sendable (inout Experiment) throws -> Bool) async throws -> (
        Experiment, changed: Bool
    ) {
        try await saves.run {
            var saved = try await self.saved()
            guard let index = saved.firstIndex(where: { $0.id == id }) else {
                throw Refusal(.notFound, "experiment_not_found", "there is no experiment '\(id)'")
            }
            let changed = try edit(&saved[index])
            if changed { try await self.store.saveJSON(saved, key: Self.key) }
            self.apply(saved)
            return (saved[index], changed)
        }
    }

    private func saved() async throws -> [Experiment] {
        try await store.loadJSON([Experiment].self, key: Self.key) ?? []
    }

    private func apply(_ experiments: [Experiment]) {
        state.withLock { $0.experiments = experiments }
    }
}

extension GuardrailCounts {
    /// Counts one finished order.
    package mutating func add(_ order: Order) {
        switch order.state {
        case .delivered:
            delivered += 1
            if order.updatedAtMs > order.draft.promisedAtMs { late += 1 }
        case .rejected: rejected += 1
        case .cancelled: cancelled += 1
        default: break
        }
    }
}

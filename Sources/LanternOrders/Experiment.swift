import Foundation
import LanternLedger

/// How an order that names no store is given one.
public enum RoutingPolicy: String, Sendable, Codable, CaseIterable {
    /// Lantern's: the store in reach that would deliver it soonest, its backlog counted.
    case soonest
    /// The nearest store in reach that can take it, however long its queue.
    case nearest
}

/// What an experiment varies: a policy Lantern already has, with one value per variant.
public enum ExperimentPolicy: String, Sendable, Codable, CaseIterable {
    /// Order routing; variant values are `RoutingPolicy` names.
    case routing
    /// How riders are given orders; variant values are `DispatchPolicy` names (`planned`
    /// batches pickups and drops, `nearest-idle` sends each order alone).
    case dispatch
}

/// A comparison of policies on one campaign's card holders. Each user is assigned one variant
/// for good, by a keyed hash of the experiment and the user, so the same person sees the same
/// policy on every node and every visit. The first variant is the control: a variant the
/// guardrail stops sends its users to the control from then on.
public struct Experiment: Sendable, Codable, Equatable {
    /// The experiment's id.
    public var id: String
    /// The campaign whose card orders it applies to.
    public var campaign: String
    /// The policy varied.
    public var policy: ExperimentPolicy
    /// The variants, control first.
    public var variants: [Variant]
    /// When a variant is stopped on its own.
    public var guardrail: Guardrail
    /// When it was defined.
    public var startedAt: Date
    /// When an operator ended it; nil while it runs.
    public var endedAt: Date?
    /// Variants the guardrail (or an operator) stopped, with when and why.
    public var stops: [Stop]

    /// One arm of the experiment.
    public struct Variant: Sendable, Codable, Equatable {
        /// Its name in reports.
        public var name: String
        /// The policy's value in this arm (for routing `soonest` or `nearest`, for dispatch
        /// `planned` or `nearest-idle`).
        public var value: String
        /// Its share of users, relative to the other variants' weights.
        public var weight: Int

        /// Creates a variant.
        public init(name: String, value: String, weight: Int = 1) {
            self.name = name
            self.value = value
            self.weight = weight
        }
    }

    /// The bounds past which a variant is stopped, judged once it has `minOrders` finished orders.
    public struct Guardrail: Sendable, Codable, Equatable {
        /// Most of a variant's delivered orders that may arrive after their promise (0…1).
        public var maxLateShare: Double?
        /// Most of a variant's finished orders that may end rejected by the store (0…1).
        public var maxErrorRate: Double?
        /// Finished orders a variant needs before it is judged.
        public var minOrders: Int

        /// Creates a guardrail; with no bound, nothing is ever stopped.
        public init(maxLateShare: Double? = nil, maxErrorRate: Double? = nil, minOrders: Int = 30) {
            self.maxLateShare = maxLateShare
            self.maxErrorRate = maxErrorRate
            self.minOrders = minOrders
        }
    }

    /// A variant taken out of the experiment.
    public struct Stop: Sendable, Codable, Equatable {
        /// The variant's index.
        public var variant: Int
        /// When, milliseconds since 1970: orders from then on are the control's.
        public var atMs: Int64
        /// Why, in words an operator reads.
        public var reason: String

        /// Creates a stop.
        public init(variant: Int, atMs: Int64, reason: String) {
            self.variant = variant
            self.atMs = atMs
            self.reason = reason
        }
    }

    /// A definition that cannot run.
    public struct Invalid: Error, Equatable, CustomStringConvertible {
        /// What is wrong.
        public var description: String
    }

    /// Creates an experiment, checking that it can run.
    public init(
        id: String, campaign: String, policy: ExperimentPolicy, variants: [Variant], guardrail: Guardrail = Guardrail(),
        startedAt: Date
    ) throws {
        guard !id.isEmpty, id.count <= 64, id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw Invalid(description: "id must be 1 to 64 letters, digits, '-' or '_'")
        }
        guard (2...8).contains(variants.count) else { throw Invalid(description: "an experiment has 2 to 8 variants") }
        guard Set(variants.map(\.name)).count == variants.count, variants.allSatisfy({ !$0.name.isEmpty }) else {
            throw Invalid(description: "variant names must be present and distinct")
        }
        guard variants.allSatisfy({ (1...1_000).contains($0.weight) }) else {
            throw Invalid(description: "a variant's weight is 1 to 1000")
        }
        let values =
            switch policy {
            case .routing: RoutingPolicy.allCases.map(\.rawValue)
            case .dispatch: DispatchPolicy.allCases.map(\.rawValue)
            }
        if let bad = variants.first(where: { !values.contains($0.value) }) {
            throw Invalid(description: "variant '\(bad.name)': \(policy.rawValue) is one of \(values.joined(separator: ", "))")
        }
        for bound in [guardrail.maxLateShare, guardrail.maxErrorRate] {
            if let bound, !(0...1).contains(bound) { throw Invalid(description: "guardrail bounds are shares from 0 to 1") }
        }
        guard guardrail.minOrders >= 1 else { throw Invalid(description: "guardrail min_orders is at least 1") }
        self.id = id
        self.campaign = campaign
        self.policy = policy
        self.variants = variants
        self.guardrail = guardrail
        self.startedAt = startedAt
        self.stops = []
    }

    /// Whether a card belongs to the experiment's campaign (card ids start with the campaign's).
    public func covers(cardID: String) -> Bool { cardID.hasPrefix(campaign + ":") }

    /// Whether it still assigns anything at `ms`.
    public func isRunning(atMs ms: Int64) -> Bool { endedAt.map { ms < $0.millisecondsSince1970 } ?? true }

    /// The variant a user is assigned for good, from the keyed hash of experiment and user.
    public func assigned(hash: UInt64) -> Int {
        let total = UInt64(variants.reduce(0) { $0 + $1.weight })
        var point = hash % total
        for (index, variant) in variants.enumerated() {
            if point < UInt64(variant.weight) { return index }
            point -= UInt64(variant.weight)
        }
        return 0
    }

    /// When variant `index` was stopped, if it was.
    public func stoppedAtMs(_ index: Int) -> Int64? { stops.first { $0.variant == index }?.atMs }

    /// The variant whose policy applies to an order placed at `ms` by a user with `hash`: the
    /// assigned one, or the control once that one was stopped.
    public func effective(hash: UInt64, atMs ms: Int64) -> Int {
        let index = assigned(hash: hash)
        if let stopped = stoppedAtMs(index), ms >= stopped { return 0 }
        return index
    }

    /// How the guardrail judges a variant's finished orders: the reason to stop it, or nil.
    /// The control is never stopped, since it is where stopped variants' users go.
    public func verdict(variant index: Int, outcomes: GuardrailCounts) -> String? {
        guard index != 0, stoppedAtMs(index) == nil, outcomes.finished >= guardrail.minOrders else { return nil }
        if let bound = guardrail.maxErrorRate, outcomes.errorRate > bound {
            return "error rate \(percent(outcomes.errorRate)) of \(outcomes.finished) finished orders passed the guardrail's \(percent(bound))"
        }
        if let bound = guardrail.maxLateShare, outcomes.delivered > 0, outcomes.lateShare > bound {
            return "\(percent(outcomes.lateShare)) of \(outcomes.delivered) deliveries were late, past the guardrail's \(percent(bound))"
        }
        return nil
    }

    private func percent(_ share: Double) -> String { String(format: "%.1f %%", share * 100) }
}

/// A variant's finished orders as the guardrail counts them.
public struct GuardrailCounts: Sendable, Equatable {
    /// Delivered.
    public var delivered = 0
    /// Delivered after their promise.
    public var late = 0
    /// Rejected by the store.
    public var rejected = 0
    /// Cancelled by the customer.
    public var cancelled = 0

    /// No orders yet.
    public init() {}

    /// Orders that reached an end.
    public var finished: Int { delivered + rejected + cancelled }
    /// Rejected over finished.
    public var errorRate: Double { finished == 0 ? 0 : Double(rejected) / Double(finished) }
    /// Late over delivered.
    public var lateShare: Double { delivered == 0 ? 0 : Double(late) / Double(delivered) }
}

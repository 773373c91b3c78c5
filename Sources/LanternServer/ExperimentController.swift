import Foundation
import Hummingbird
import LanternApp
import LanternLedger
import LanternOrders
import LanternStorage

/// Experiments for admins: define one over a campaign's policy, list them with the guardrail's
/// counts, stop a variant or end the experiment. What each variant bought is in the campaign report.
struct ExperimentController: Sendable {
    let engine: LedgerEngine
    let experiments: ExperimentService
    let clock: @Sendable () -> Date

    /// Routes under `/v1`.
    func addRoutes(to group: RouterGroup<LanternRequestContext>) {
        group.get("admin/experiments", use: list)
        group.post("admin/experiments", use: define)
        group.post("admin/experiments/:id/end", use: end)
        group.post("admin/experiments/:id/variants/:variant/stop", use: stop)
    }

    @Sendable func list(_ request: Request, context: LanternRequestContext) async throws -> Response {
        _ = try context.require(.admin)
        var json = JSONWriter()
        json.beginObject()
        json.beginArray("experiments")
        for experiment in experiments.all { write(experiment, into: &json) }
        json.endArray()
        json.endObject()
        return json.response(status: .ok)
    }

    @Sendable func define(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let admin = try context.require(.admin)
        let body = try JSONBody.decode(ExperimentBody.self, from: try await JSONBody.bytes(of: request))
        guard try engine.read({ $0.account(body.campaign) }) != nil else { throw APIError(LedgerError.campaignNotFound(body.campaign)) }
        let experiment: Experiment
        do {
            experiment = try Experiment(
                id: body.id, campaign: body.campaign, policy: body.policy,
                variants: body.variants.map { Experiment.Variant(name: $0.name, value: $0.value, weight: $0.weight ?? 1) },
                guardrail: Experiment.Guardrail(
                    maxLateShare: body.guardrail?.maxLateShare, maxErrorRate: body.guardrail?.maxErrorRate,
                    minOrders: body.guardrail?.minOrders ?? 30),
                startedAt: clock())
        } catch let invalid as Experiment.Invalid {
            throw APIError(.unprocessableContent, "invalid_experiment", invalid.description)
        }
        try await refusing { try await experiments.define(experiment, by: admin) }
        var json = JSONWriter()
        write(experiment, into: &json)
        return json.response(status: .created)
    }

    @Sendable func end(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let admin = try context.require(.admin)
        let id = try context.parameters.require("id")
        let ended = try await refusing { try await experiments.end(id, by: admin) }
        var json = JSONWriter()
        write(ended, into: &json)
        return json.response(status: .ok)
    }

    @Sendable func stop(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let admin = try context.require(.admin)
        let id = try context.parameters.require("id")
        let name = try context.parameters.require("variant")
        guard let index = experiments.experiment(id)?.variants.firstIndex(where: { $0.name == name }) else {
            throw APIError(.notFound, "variant_not_found", "experiment '\(id)' has no variant '\(name)'")
        }
        let stopped = try await refusing {
            try await experiments.stop(id, variant: index, reason: "stopped by \(admin.userID)", by: admin)
        }
        var json = JSONWriter()
        write(stopped, into: &json)
        return json.response(status: .ok)
    }

    /// Runs `body`, answering the service's refusals as API errors.
    private func refusing<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            if APIError.translating(error) != nil { throw error }
            throw APIError.unavailable("the experiment could not be saved: \(error)")
        }
    }

    /// `{"id","campaign","policy","started_at","ended_at","guardrail","variants":[…]}`, each
    /// variant with its guardrail counts on this node.
    private func write(_ experiment: Experiment, into json: inout JSONWriter) {
        let counts = experiments.counts(experiment.id)
        json.beginObject()
        json.field("id", experiment.id)
        json.field("campaign", experiment.campaign)
        json.field("policy", experiment.policy.rawValue)
        json.field("started_at", experiment.startedAt)
        if let ended = experiment.endedAt { json.field("ended_at", ended) } else { json.null("ended_at") }
        json.beginObject("guardrail")
        if let bound = experiment.guardrail.maxLateShare { json.field("max_late_share", bound) } else { json.null("max_late_share") }
        if let bound = experiment.guardrail.maxErrorRate { json.field("max_error_rate", bound) } else { json.null("max_error_rate") }
        json.field("min_orders", experiment.guardrail.minOrders)
        json.endObject()
        json.beginArray("variants")
        for (index, variant) in experiment.variants.enumerated() {
            json.beginObject()
            json.field("name", variant.name)
            json.field("value", variant.value)
            json.field("weight", variant.weight)
            if let stop = experiment.stops.first(where: { $0.variant == index }) {
                json.field("stopped_at", Date(millisecondsSince1970: stop.atMs))
                json.field("stop_reason", stop.reason)
            } else {
                json.null("stopped_at")
            }
            let count = index < counts.count ? counts[index] : GuardrailCounts()
            json.field("finished", count.finished)
            json.field("delivered", count.delivered)
            json.field("late", count.late)
            json.field("rejected", count.rejected)
            json.endObject()
        }
        json.endArray()
        json.endObject()
    }
}

/// Body of `POST /v1/admin/experiments`.
struct ExperimentBody: Decodable {
    struct Variant: Decodable {
        var name: String
        var value: String
        var weight: Int?
    }

    struct Guardrail: Decodable {
        var maxLateShare: Double?
        var maxErrorRate: Double?
        var minOrders: Int?
        enum CodingKeys: String, CodingKey {
            case maxLateShare = "max_late_share"
            case maxErrorRate = "max_error_rate"
            case minOrders = "min_orders"
        }
    }

    var id: String
    var campaign: String
    var policy: ExperimentPolicy
    var variants: [Variant]
    var guardrail: Guardrail?
}

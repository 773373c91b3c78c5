import Foundation
import LanternCatalog
import LanternLedger
import Testing

@testable import LanternOrders

@Suite struct ExperimentTests {
    let start = Date(timeIntervalSince1970: 1_771_300_000)

    func routing(weights: [Int] = [1, 1], guardrail: Experiment.Guardrail = Experiment.Guardrail()) throws -> Experiment {
        let values = ["soonest", "nearest", "soonest"]
        return try Experiment(
            id: "exp", campaign: "spring", policy: .routing,
            variants: weights.enumerated().map { Experiment.Variant(name: "v\($0.offset)", value: values[$0.offset], weight: $0.element) },
            guardrail: guardrail, startedAt: start)
    }

    @Test func usersAreSplitByWeightAndKeepTheirVariant() throws {
        let experiment = try routing(weights: [3, 1])
        var random = SplitMix64(seed: 42)
        var counts = [0, 0]
        for _ in 0..<40_000 {
            let hash = random.next()
            let variant = experiment.assigned(hash: hash)
            #expect(experiment.assigned(hash: hash) == variant)
            counts[variant] += 1
        }
        // 3 : 1, within a few standard deviations (about 87 users here).
        #expect(abs(counts[0] - 30_000) < 400, "\(counts)")
    }

    @Test func aStoppedVariantsLaterOrdersGoToTheControl() throws {
        var experiment = try routing()
        let hash = (0..<UInt64(100)).first { experiment.assigned(hash: $0) == 1 }!
        experiment.stops.append(Experiment.Stop(variant: 1, atMs: 5_000, reason: "late"))
        #expect(experiment.effective(hash: hash, atMs: 4_999) == 1)
        #expect(experiment.effective(hash: hash, atMs: 5_000) == 0)
        #expect(experiment.assigned(hash: hash) == 1, "still counted in its arm for conversion")
    }

    @Test func theGuardrailWaitsForItsSampleAndNeverStopsTheControl() throws {
        let experiment = try routing(guardrail: Experiment.Guardrail(maxLateShare: 0.2, maxErrorRate: 0.1, minOrders: 10))
        var outcomes = GuardrailCounts()
        outcomes.delivered = 6
        outcomes.rejected = 3
        #expect(experiment.verdict(variant: 1, outcomes: outcomes) == nil, "nine finished orders are too few")
        outcomes.delivered = 7
        #expect(experiment.verdict(variant: 1, outcomes: outcomes)?.hasPrefix("error rate 30.0 % of 10") == true)
        #expect(experiment.verdict(variant: 0, outcomes: outcomes) == nil)
        var late = GuardrailCounts()
        late.delivered = 10
        late.late = 3
        #expect(experiment.verdict(variant: 1, outcomes: late)?.contains("30.0 % of 10 deliveries were late") == true)
        late.late = 2
        #expect(experiment.verdict(variant: 1, outcomes: late) == nil, "20 % is the bound, not past it")
    }

    @Test func definitionsThatCannotRunAreRefused() {
        #expect(throws: Experiment.Invalid.self) { try routing(weights: [1]) }
        #expect(throws: Experiment.Invalid.self) { try routing(weights: [1, 0]) }
        #expect(throws: Experiment.Invalid.self) {
            try Experiment(id: "x", campaign: "c", policy: .routing, variants: [.init(name: "a", value: "soonest"), .init(name: "a", value: "nearest")], startedAt: start)
        }
        #expect(throws: Experiment.Invalid.self) {
            try Experiment(id: "x", campaign: "c", policy: .routing, variants: [.init(name: "a", value: "soonest"), .init(name: "b", value: "fastest")], startedAt: start)
        }
        #expect(throws: Experiment.Invalid.self) { try routing(guardrail: Experiment.Guardrail(maxErrorRate: 1.5)) }
        #expect(throws: Experiment.Invalid.self) {
            try Experiment(id: "no spaces", campaign: "c", policy: .routing, variants: [.init(name: "a", value: "soonest"), .init(name: "b", value: "nearest")], startedAt: start)
        }
    }

    @Test func cardsOfTheCampaignAreCovered() throws {
        let experiment = try routing()
        #expect(experiment.covers(cardID: "spring:ann:0"))
        #expect(!experiment.covers(cardID: "springtime:ann:0"))
    }

    @Test func nearestRoutingTakesTheNearestStoreThatCanTakeTheOrderHoweverLongItsQueue() throws {
        let here = GeoPoint(lat: 31.23, lng: 121.47)
        let near = store("near", at: GeoPoint(lat: 31.231, lng: 121.47))
        let farther = store("farther", at: GeoPoint(lat: 31.245, lng: 121.47))
        let directory = MerchantDirectory(stores: [near, farther])
        let ask = request([OrderLine(drink: "pearl milk tea")], at: here)
        let load = { (store: Store) in StoreLoad(backlogCups: store.id == "near" ? 20 : 0, paused: false) }
        #expect(try OrderDesk.route(ask, in: directory, nowMs: noonMs, policy: .soonest, load: load).get().store.id == "farther")
        #expect(try OrderDesk.route(ask, in: directory, nowMs: noonMs, policy: .nearest, load: load).get().store.id == "near")
        // Past its auto-pause limit the nearest cannot take it, and the next nearest does.
        let full = { (store: Store) in StoreLoad(backlogCups: store.id == "near" ? 30 : 0, paused: false) }
        #expect(try OrderDesk.route(ask, in: directory, nowMs: noonMs, policy: .nearest, load: full).get().store.id == "farther")
    }
}

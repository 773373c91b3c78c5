import Foundation
import HTTPTypes
import LanternApp
import LanternCatalog
import LanternOrders
import LanternStorage
import Testing

@testable import LanternServer

extension TestApp {
    /// Defines an experiment over order routing on `spring`: soonest (the control) against nearest.
    func defineRoutingExperiment(_ id: String, guardrail: String = "null") async throws -> Reply {
        try await send(
            .post, "/v1/admin/experiments", as: "ops", role: .admin,
            body: """
                {"id":"\(id)","campaign":"spring","policy":"routing",
                 "variants":[{"name":"soonest","value":"soonest"},{"name":"nearest","value":"nearest"}],"guardrail":\(guardrail)}
                """)
    }

    /// Orders a large pearl milk tea with `card`, from whichever store routing picks, to a
    /// point `offset` degrees north-east of the busy block east of the centre.
    func orderRouted(_ user: String, card: String, offset: Double) async throws -> Reply {
        try await send(
            .post, "/v1/orders", as: user, headers: [.idempotencyKey: UUID().uuidString],
            body: """
                {"items":[{"drink":"pearl milk tea","size":"large","sugar":50,"ice":"less","toppings":[],"quantity":2}],
                 "address":{"lat":\(centre.lat + 0.004 + offset),"lng":\(centre.lng + 0.006 + offset),"text":"East Nanjing Road"},
                 "card_id":"\(card)"}
                """)
    }

    /// A lunch rush in one busy block: `customers` claim a card and order with it, one every
    /// five seconds, while `dispatch` runs its rounds and moves its riders, for at most
    /// `minutes` or until every order placed is delivered. Returns the orders placed and how
    /// many were refused.
    func lunchRush(customers: Int, dispatch: DispatchService, minutes: Int) async throws -> (placed: [String], refused: Int) {
        var placed: [String] = []
        var refused = 0
        for step in 0..<(minutes * 12) {
            if step < customers {
                let user = "lunch\(step)"
                let card = try #require(try await claim(user).cardID)
                let reply = try await orderRouted(user, card: card, offset: Double(step % 7) * 0.0004)
                if reply.status == .created { placed.append(try #require(reply.order["id"] as? String)) } else { refused += 1 }
            }
            clock.advance(by: 5)
            try await dispatch.round()
            try await dispatch.tick(seconds: 5)
            if step >= customers, try engine.read({ book in placed.allSatisfy { book.order($0)?.state == .delivered } }) {
                break
            }
        }
        return (placed, refused)
    }
}

@Suite("Experiments", .serialized)
struct ExperimentAPITests {
    @Test("A lunch rush with users split soonest/nearest: the report finds soonest routing brings drinks sooner, with an interval that leaves zero out")
    func routingExperiment() async throws {
        try await withTestApp(.sqlite) { app in
            #expect(try await app.createCampaign(budget: 50_000_000, endsIn: 6 * 3_600, expiresIn: 12 * 3_600) == .created)
            let defined = try await app.defineRoutingExperiment("lunch-routing")
            #expect(defined.status == .created, "\(defined.json)")

            // The rush and the city: 240 customers in one busy block, one every five seconds;
            // autopilot stores make drinks at their pace, riders carry them.
            let directory = MerchantDirectory(stores: DemoCity.stores(count: 300, seed: 2026))
            let dispatch = DispatchService(
                DispatchConfiguration(riders: 120, autopilot: true), engine: app.engine, directory: directory,
                events: OrderEvents(), seed: 7, logger: quietLogger, clock: { app.clock.date })
            let customers = 240
            let (placed, refused) = try await app.lunchRush(customers: customers, dispatch: dispatch, minutes: 120)
            #expect(placed.count >= customers * 9 / 10, "\(refused) refused")
            let undelivered = try app.engine.read { book in placed.filter { book.order($0)?.state != .delivered } }
            #expect(undelivered.isEmpty, "\(undelivered.count) never delivered")

            let report = try await app.send(.get, "/v1/admin/campaigns/spring/report", as: "ops", role: .admin)
            let experiment = try #require((report.json["experiments"] as? [[String: Any]])?.first)
            let variants = try #require(experiment["variants"] as? [[String: Any]])
            #expect(variants.map { $0["name"] as? String } == ["soonest", "nearest"])
            let users = variants.map { $0["users"] as? Int ?? 0 }
            #expect(users.reduce(0, +) == customers)
            #expect(users.allSatisfy { $0 > customers / 3 }, "assignment is about half and half: \(users)")
            func figure(_ variant: [String: Any], _ name: String) -> [String: Double] {
                (variant[name] as? [String: Any] ?? [:]).compactMapValues { $0 as? Double }
            }
            let soonest = figure(variants[0], "minutes_to_door")
            let nearest = figure(variants[1], "minutes_to_door")
            let versus = figure(variants[1]["versus_control"] as? [String: Any] ?? [:], "minutes_to_door")
            // Nearest routing queues the block at its nearest stores while soonest spreads it.
            #expect((nearest["value"] ?? 0) > (soonest["value"] ?? .infinity), "nearest \(nearest), soonest \(soonest)")
            #expect((versus["low"] ?? 0) > 0, "the interval of nearest − soonest leaves zero out: \(versus)")
            #expect(figure(variants[0], "conversion")["value"] ?? 0 > 0.85)
            #expect(variants[1]["stopped"] == nil || variants[1]["stopped"] is NSNull)
            print("routing experiment: soonest \(soonest), nearest \(nearest), nearest − soonest \(versus), users \(users), refused \(refused)")

            let csv = try await app.send(.get, "/v1/admin/campaigns/spring/report?format=csv", as: "ops", role: .admin)
            #expect(String(decoding: csv.body, as: UTF8.self).contains("experiment,lunch-routing.nearest.minutes_to_door_vs_control,"))
        }
    }

    @Test("A lunch rush with users split planned/nearest-idle dispatch: the report finds planned rounds bring drinks sooner, with an interval that leaves zero out")
    func dispatchExperiment() async throws {
        let store = try await TestStore.make(.sqlite)
        let clock = TestClock()
        try await withTestApp(.sqlite, store: store, clock: clock) { app in
            #expect(try await app.createCampaign(budget: 50_000_000, endsIn: 6 * 3_600, expiresIn: 12 * 3_600) == .created)
            let defined = try await app.send(
                .post, "/v1/admin/experiments", as: "ops", role: .admin,
                body: #"{"id":"lunch-dispatch","campaign":"spring","policy":"dispatch","variants":[{"name":"planned","value":"planned"},{"name":"alone","value":"nearest-idle"}]}"#)
            #expect(defined.status == .created, "\(defined.json)")
            // The dispatcher asks the experiments, as the server's does, read from the same store.
            let opened = try openStore(store.location, logger: quietLogger)
            let experiments = ExperimentService(store: opened.store, tokens: app.tokens, logger: quietLogger, clock: { clock.date })
            try await experiments.restore(from: app.engine)

            // 240 customers in one busy block, one every five seconds, and too few riders to
            // send every order alone: the planned variant's orders share trips.
            let directory = MerchantDirectory(stores: DemoCity.stores(count: 300, seed: 2026))
            let dispatch = DispatchService(
                DispatchConfiguration(riders: 40, autopilot: true), engine: app.engine, directory: directory,
                events: OrderEvents(), seed: 7, logger: quietLogger, policy: { experiments.dispatch($0) }, clock: { clock.date })
            let customers = 240
            let (placed, _) = try await app.lunchRush(customers: customers, dispatch: dispatch, minutes: 180)
            #expect(placed.count >= customers * 9 / 10)
            let undelivered = try app.engine.read { book in placed.filter { book.order($0)?.state != .delivered } }
            #expect(undelivered.isEmpty, "\(undelivered.count) never delivered")

            let report = try await app.send(.get, "/v1/admin/campaigns/spring/report", as: "ops", role: .admin)
            let experiment = try #require((report.json["experiments"] as? [[String: Any]])?.first)
            #expect(experiment["policy"] as? String == "dispatch")
            let variants = try #require(experiment["variants"] as? [[String: Any]])
            func figure(_ variant: [String: Any], _ name: String) -> [String: Double] {
                (variant[name] as? [String: Any] ?? [:]).compactMapValues { $0 as? Double }
            }
            let planned = figure(variants[0], "minutes_to_door")
            let alone = figure(variants[1], "minutes_to_door")
            let versus = figure(variants[1]["versus_control"] as? [String: Any] ?? [:], "minutes_to_door")
            #expect((alone["value"] ?? 0) > (planned["value"] ?? .infinity), "alone \(alone), planned \(planned)")
            #expect((versus["low"] ?? 0) > 0, "the interval of alone − planned leaves zero out: \(versus)")
            print("dispatch experiment: planned \(planned), alone \(alone), alone − planned \(versus)")
        }
        try await store.remove()
    }

    @Test("A variant whose orders the stores keep rejecting is stopped by the guardrail, for every node, and its users get the control", arguments: StoreKind.available)
    func guardrailStops(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind)
        let clock = TestClock()
        try await withTestApp(kind, store: store, clock: clock) { app in
            #expect(try await app.createCampaign() == .created)
            let defined = try await app.defineRoutingExperiment(
                "reject-watch", guardrail: #"{"max_error_rate":0.25,"min_orders":6}"#)
            #expect(defined.status == .created, "\(defined.json)")
            // A counter overwhelmed: every order is rejected, in both arms. The control is never
            // stopped (it is where stopped users go); nearest is, once it has six finished orders.
            var user = 0
            while user < 60 {
                let name = "crowd\(user)"
                user += 1
                let card = try #require(try await app.claim(name).cardID)
                let reply = try await app.orderRouted(name, card: card, offset: 0)
                #expect(reply.status == .created, "\(reply.json)")
                let id = try #require(reply.order["id"] as? String)
                let merchant = try #require(reply.order["merchant_id"] as? String)
                clock.advance(by: 1)
                let rejected = try await app.send(.post, "/v1/merchant/orders/\(id)/reject", as: "shop", role: .merchant, merchant: merchant)
                #expect(rejected.status == .ok)
                let listed = try await app.send(.get, "/v1/admin/experiments", as: "ops", role: .admin)
                let variants = (listed.json["experiments"] as? [[String: Any]])?.first?["variants"] as? [[String: Any]] ?? []
                if variants.count == 2, variants[1]["stop_reason"] is String { break }
            }
            let listed = try await app.send(.get, "/v1/admin/experiments", as: "ops", role: .admin)
            let variants = try #require((listed.json["experiments"] as? [[String: Any]])?.first?["variants"] as? [[String: Any]])
            #expect(variants[0]["stopped_at"] is NSNull, "the control runs on")
            let reason = try #require(variants[1]["stop_reason"] as? String, "stopped within 60 orders: \(variants)")
            #expect(reason.contains("error rate 100.0 %"), "\(reason)")
            #expect(variants[1]["finished"] as? Int == 6)
            let audit = try await app.send(.get, "/v1/admin/audit", as: "ops", role: .admin)
            let stops = (audit.json["entries"] as? [[String: Any]] ?? []).filter { $0["action"] as? String == "experiment.stop" }
            #expect(stops.first?["actor"] as? String == "guardrail")
        }
        // Saved before it was answered: a node starting on the store knows of the stop.
        try await withTestApp(kind, store: store, clock: clock) { app in
            let listed = try await app.send(.get, "/v1/admin/experiments", as: "ops", role: .admin)
            let variants = try #require((listed.json["experiments"] as? [[String: Any]])?.first?["variants"] as? [[String: Any]])
            #expect(variants[1]["stop_reason"] is String)
            // SQLite's book holds every order, so the counts are taken again at start; a node
            // sharing PostgreSQL holds a cache and counts what finishes after it started.
            #expect(variants[1]["finished"] as? Int == (kind == .sqlite ? 6 : 0))
        }
        try await store.remove()
    }

    @Test("Definitions are checked: unknown campaign, bad values, two routing experiments at once, and only admins")
    func definitions() async throws {
        try await withTestApp(.sqlite) { app in
            #expect(try await app.createCampaign() == .created)
            #expect(try await app.defineRoutingExperiment("first").status == .created)
            let twice = try await app.defineRoutingExperiment("second")
            #expect(twice.status == .conflict && twice.errorCode == "experiment_running")
            #expect(try await app.defineRoutingExperiment("first").errorCode == "experiment_exists")
            let bad = try await app.send(
                .post, "/v1/admin/experiments", as: "ops", role: .admin,
                body: #"{"id":"x","campaign":"spring","policy":"routing","variants":[{"name":"a","value":"soonest"},{"name":"b","value":"fastest"}]}"#)
            #expect(bad.status == .unprocessableContent && bad.errorCode == "invalid_experiment", "\(bad.json)")
            let noCampaign = try await app.send(
                .post, "/v1/admin/experiments", as: "ops", role: .admin,
                body: #"{"id":"x","campaign":"autumn","policy":"routing","variants":[{"name":"a","value":"soonest"},{"name":"b","value":"nearest"}]}"#)
            #expect(noCampaign.status == .notFound)
            #expect(try await app.send(.get, "/v1/admin/experiments", as: "ann").status == .forbidden)
            let control = try await app.send(.post, "/v1/admin/experiments/first/variants/soonest/stop", as: "ops", role: .admin)
            #expect(control.errorCode == "control_not_stoppable")
            let stopped = try await app.send(.post, "/v1/admin/experiments/first/variants/nearest/stop", as: "ops", role: .admin)
            #expect(stopped.status == .ok)
            #expect(try await app.send(.post, "/v1/admin/experiments/first/end", as: "ops", role: .admin).status == .ok)
            #expect(try await app.defineRoutingExperiment("second").status == .created, "the campaign is free once the first ended")
        }
    }
}

import Foundation
import LanternApp
import LanternCatalog
import LanternOrders
import Testing

@testable import LanternServer

@Suite("Dispatch over live orders", .serialized)
struct DispatchServiceTests {
    @Test("An autopilot store makes the drink, a rider picks it up when ready and delivers it; the user's stream sees each step")
    func orderToDoor() async throws {
        try await withTestApp(.sqlite) { app in
            let store = try await app.nearbyStore()
            let id = try #require(try await app.order("ann", merchant: store).order["id"] as? String)
            let directory = MerchantDirectory(stores: DemoCity.stores(count: 300, seed: 2026))
            let events = OrderEvents()
            let updates = events.subscribe(user: "ann")
            let service = DispatchService(
                DispatchConfiguration(riders: 40, timeScale: 60, autopilot: true), engine: app.engine, directory: directory,
                events: events, seed: 1, logger: quietLogger, clock: { app.clock.date })
            try await service.round()
            #expect(try await app.send(.get, "/v1/orders/\(id)", as: "ann").order["state"] as? String == "accepted")
            app.clock.advance(by: 3_600)
            try await service.round()
            #expect(try await app.send(.get, "/v1/orders/\(id)", as: "ann").order["state"] as? String == "ready")
            #expect(service.estimatedDelivery(of: id) != nil)
            #expect(service.snapshot.busy == 1)
            var steps = 0
            while try await app.send(.get, "/v1/orders/\(id)", as: "ann").order["state"] as? String != "delivered", steps < 200 {
                try await service.tick(seconds: 5)
                steps += 1
            }
            #expect(try await app.send(.get, "/v1/orders/\(id)", as: "ann").order["state"] as? String == "delivered")
            #expect(service.snapshot.busy == 0)
            var seen: [String] = []
            for await order in updates {
                seen.append(order.state.rawValue)
                if order.state == .delivered { break }
            }
            #expect(seen == ["accepted", "ready", "picked_up", "delivered"])
        }
    }

    @Test("An autopilot store whose counter page is open is left to the person at it")
    func autopilotLeavesAWatchedCounterAlone() async throws {
        try await withTestApp(.sqlite) { app in
            let store = try await app.nearbyStore()
            let id = try #require(try await app.order("ann", merchant: store).order["id"] as? String)
            let events = OrderEvents()
            let counter = events.subscribe(store: store)
            let service = DispatchService(
                DispatchConfiguration(riders: 40, timeScale: 60, autopilot: true), engine: app.engine,
                directory: MerchantDirectory(stores: DemoCity.stores(count: 300, seed: 2026)), events: events, seed: 1,
                logger: quietLogger, clock: { app.clock.date })
            try await service.round()
            #expect(try await app.send(.get, "/v1/orders/\(id)", as: "ann").order["state"] as? String == "placed")
            _ = counter
        }
    }

    @Test("Without the store marking it ready, the rider waits at the counter")
    func waitsForTheStore() async throws {
        try await withTestApp(.sqlite) { app in
            let store = try await app.nearbyStore()
            let id = try #require(try await app.order("ann", merchant: store).order["id"] as? String)
            let directory = MerchantDirectory(stores: DemoCity.stores(count: 300, seed: 2026))
            let service = DispatchService(
                DispatchConfiguration(riders: 40, timeScale: 60, autopilot: false), engine: app.engine, directory: directory,
                events: OrderEvents(), seed: 1, logger: quietLogger, clock: { app.clock.date })
            app.clock.advance(by: 3_600)
            try await service.round()
            for _ in 0..<100 { try await service.tick(seconds: 5) }
            #expect(try await app.send(.get, "/v1/orders/\(id)", as: "ann").order["state"] as? String == "placed")
            #expect(service.snapshot.busy == 1)
            for action in ["accept", "ready"] {
                #expect(try await app.send(.post, "/v1/merchant/orders/\(id)/\(action)", as: "shop", role: .merchant, merchant: store).status == .ok)
            }
            try await service.tick(seconds: 0.01)
            let after = try await app.send(.get, "/v1/orders/\(id)", as: "ann").order
            #expect(after["state"] as? String == "picked_up", "\(after)")
        }
    }
}

import Foundation
import LanternCatalog
import LanternStorage
import Testing

@testable import LanternServer

@Suite("Demo city in the store")
struct CityTests {
    @Test("serve seeds the city into an empty store and keeps a seeded one", arguments: StoreKind.available)
    func seededOnce(kind: StoreKind) async throws {
        let store = try await TestStore.make(kind)
        try await withTestApp(kind, store: store) { _ in }
        let opened = try openStore(store.location, logger: quietLogger)
        let first = try await opened.whileRunning(logger: quietLogger) { try await CityDefinition.load(from: opened.store) }
        #expect(first == CityDefinition(name: "Shanghai (demo)", merchants: 300, riders: 200, seed: 2026))
        let mine = CityDefinition(name: "Test town", merchants: 40, riders: 5, seed: 9)
        // A PostgreSQL pool runs once: each step opens the store afresh.
        let writer = try openStore(store.location, logger: quietLogger)
        try await writer.whileRunning(logger: quietLogger) { try await mine.save(to: writer.store) }
        try await withTestApp(kind, store: store) { _ in }
        let reopened = try openStore(store.location, logger: quietLogger)
        let kept = try await reopened.whileRunning(logger: quietLogger) { try await CityDefinition.load(from: reopened.store) }
        #expect(kept == mine)
        try await store.remove()
    }

    @Test("The export is one JSON object per store with its place, capacity and hours")
    func exportLines() throws {
        let city = CityDefinition(name: "Test town", merchants: 3, riders: 0, seed: 9)
        let lines = city.stores.map(CityDefinition.jsonLine)
        #expect(lines.count == 3)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["id"] as? String == "m-000000")
        #expect(Set(first.keys) == ["id", "name", "brand", "brand_zh", "lat", "lng", "cups_per_hour", "prep_minutes", "opens", "closes"])
        #expect((first["lat"] as? Double).map { abs($0 - city.stores[0].location.lat) < 1e-6 } == true)
    }
}

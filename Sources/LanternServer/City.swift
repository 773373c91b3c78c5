import Foundation
import LanternCatalog
import LanternStorage

/// The demo city a store holds: everything needed to regenerate its stores and riders exactly,
/// since the generator is deterministic.
public struct CityDefinition: Sendable, Codable, Equatable {
    /// The city's name.
    public var name: String
    /// Stores.
    public var merchants: Int
    /// Riders.
    public var riders: Int
    /// Generator seed.
    public var seed: UInt64

    /// Creates a definition.
    public init(name: String, merchants: Int, riders: Int, seed: UInt64) {
        self.name = name
        self.merchants = merchants
        self.riders = riders
        self.seed = seed
    }

    /// The node-state key it is saved under.
    static let key = "city"

    /// The definition saved in `store`, if any.
    public static func load(from store: any LedgerStore) async throws -> CityDefinition? {
        try await store.loadJSON(CityDefinition.self, key: key)
    }

    /// Saves this definition in `store`.
    public func save(to store: any LedgerStore) async throws {
        try await store.saveJSON(self, key: Self.key)
    }

    /// The city's stores.
    public var stores: [Store] { DemoCity.stores(count: merchants, seed: seed) }

    /// One store as a JSON line: `id`, `name`, `brand`, `lat`, `lng`, capacity and hours.
    public static func jsonLine(_ store: Store) -> String {
        var json = JSONWriter()
        json.beginObject()
        json.storeFields(store, withCapacity: true)
        json.endObject()
        return String(decoding: json.bytes, as: UTF8.self)
    }
}

import Foundation
import LanternCatalog
import LanternLedger
import LanternOrders
import LanternStorage

/// Stores as customers, the assistant and MCP see them: search, menus, live load. The
/// controllers and the assistant's tools translate its answers; none of them computes these.
package struct StoreService: Sendable {
    let engine: LedgerEngine
    let directory: MerchantDirectory
    let board: MerchantBoard
    let clock: @Sendable () -> Date

    /// Creates the service over the ledger's orders, the city's stores and their merchants' board.
    package init(engine: LedgerEngine, directory: MerchantDirectory, board: MerchantBoard, clock: @escaping @Sendable () -> Date) {
        self.engine = engine
        self.directory = directory
        self.board = board
        self.clock = clock
    }

    /// Cups in orders the store has not made yet (placed or accepted), and whether it is paused:
    /// by its counter, or by the auto-pause rule applied to this backlog from the state the last
    /// change to its orders left. Reading changes nothing.
    package func load(of store: Store) throws -> StoreLoad {
        let backlog = try engine.read { $0.unmadeCups(atMerchant: store.id) }
        let auto = AutoPause.standard.paused(
            wasPaused: board.isAutoPaused(store.id), backlogMinutes: AutoPause.backlogMinutes(backlog, store: store))
        return StoreLoad(backlogCups: backlog, paused: board.isPaused(store.id) || auto, outOfStock: board.outOfStock(store.id))
    }

    /// Applies the auto-pause rule to the store's backlog, once an order of the store was placed
    /// or changed (the backlog moves only then), so that a store that filled up pauses and one
    /// that made enough resumes.
    package func backlogChanged(at merchantID: String) throws {
        guard let store = directory.store(id: merchantID) else { return }
        let backlog = try engine.read { $0.unmadeCups(atMerchant: store.id) }
        _ = board.updateAutoPause(store.id, backlogMinutes: AutoPause.backlogMinutes(backlog, store: store))
    }

    /// Applies the auto-pause rule to every store, as a node starts on a ledger with orders in it.
    package func applyAutoPause() throws {
        for store in directory.stores { try backlogChanged(at: store.id) }
    }

    /// Open, unpaused stores within `radius` metres of `point`, nearest first, matching `text`
    /// (a brand or a drink, either language) when given.
    package func nearby(_ point: GeoPoint, radius: Double, limit: Int, text: String?) throws -> [NearbyStore] {
        let nowMs = clock().millisecondsSince1970
        let minute = OrderDesk.localMinute(atMs: nowMs)
        let found = directory.nearby(point, radius: radius, limit: limit) { store in
            store.isOpen(atMinute: minute) && !((try? load(of: store).paused) ?? true) && Self.matches(store, text)
        }
        return try found.map { store, meters in
            let load = try load(of: store)
            return NearbyStore(
                store: store, meters: meters, backlogCups: load.backlogCups,
                readyAtMs: OrderDesk.readyAt(store: store, backlogCups: load.backlogCups, cups: 1, nowMs: nowMs))
        }
    }

    /// `text` matches a brand or a drink on the menu, in either language.
    package static func matches(_ store: Store, _ text: String?) -> Bool {
        guard let text else { return true }
        if store.brand.lowercased().contains(text) || store.brandChinese.contains(text) { return true }
        return store.drinks.contains { name in
            name.contains(text) || (Catalog.drink(named: name)?.chinese.contains(text) ?? false)
        }
    }

    /// The store's menu with its prices and what is available now.
    package func menu(of store: Store) throws -> [MenuEntry] {
        let outOfStock = board.outOfStock(store.id)
        return try store.drinks.compactMap { name in
            guard let drink = Catalog.drink(named: name) else { return nil }
            let defining = Catalog.definingTopping(of: name).map(\.rawValue)
            return MenuEntry(
                drink: name, chinese: drink.chinese,
                mediumFen: store.price(try Catalog.price(OrderLine(drink: name, size: .medium)).get()).unitFen,
                largeFen: store.price(try Catalog.price(OrderLine(drink: name, size: .large)).get()).unitFen,
                sugar: drink.sugarChoice ? sugarLevels.map(String.init) : [String(drink.defaultSugar)],
                ice: drink.ice.map(\.rawValue),
                toppings: drink.toppings.filter { !outOfStock.contains($0.rawValue) }.map { topping in
                    MenuEntry.Topping(
                        name: topping.rawValue, chinese: topping.chinese,
                        priceFen: (topping.priceFen * store.pricePermille + 5_000) / 10_000 * 10)
                },
                available: !outOfStock.contains(name) && !(defining.map(outOfStock.contains) ?? false))
        }
    }

    /// The store with that id; refused as not found (`merchant_not_found`) otherwise.
    package func store(id: String) throws -> Store {
        guard let store = directory.store(id: id) else { throw Refusal(.notFound, "merchant_not_found", "no store with id '\(id)'") }
        return store
    }
}

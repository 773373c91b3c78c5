import Foundation
import Hummingbird
import LanternApp
import LanternCatalog
import LanternOrders
import LanternStorage
import Testing

@testable import LanternServer

/// `openapi.yaml` stays true: it lists exactly the routes the server has, and the server serves it.
@Suite struct OpenAPITests {
    /// `METHOD /path` for every operation under `paths:` (paths at two spaces, methods at four).
    static func documentedOperations(_ yaml: String) -> Set<String> {
        var operations = Set<String>()
        var path: String?
        var inPaths = false
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if !line.hasPrefix(" ") { inPaths = line == "paths:" }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), !line.hasPrefix("   "), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     ") {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "patch", "delete"].contains(key) { operations.insert("\(key.uppercased()) \(path)") }
            }
        }
        return operations
    }

    @Test func theDocumentListsExactlyTheServersRoutes() async throws {
        let store = try await TestStore.make(.sqlite)
        defer { Task { try? await store.remove() } }
        let opened = try openStore(store.location, logger: quietLogger)
        let engine = LedgerEngine(store: opened.store, logger: quietLogger)
        let tokens = try await TokenAuthority(secret: testSecret)
        let router = buildRouter(
            engine: engine, store: opened.store, sessions: AssistantSessions(store: opened.store, logger: quietLogger),
            tokens: tokens, admission: AdmissionControl(AdmissionConfiguration(ticketSecret: testSecret)),
            directory: MerchantDirectory(stores: DemoCity.stores(count: 10, seed: 1)),
            experiments: ExperimentService(store: opened.store, tokens: tokens, logger: quietLogger, clock: Date.init))
        let served = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description.isEmpty ? "/" : $0.path.description)" })
        let documented = Self.documentedOperations(String(decoding: try OpenAPIDocument.bytes(), as: UTF8.self))
        #expect(served.count > 30)
        #expect(served.subtracting(documented).sorted() == [], "routes missing from openapi.yaml")
        #expect(documented.subtracting(served).sorted() == [], "openapi.yaml documents routes the server lacks")
    }

    @Test func theServerServesTheDocument() async throws {
        try await withTestApp(.sqlite) { app in
            let reply = try await app.send(.get, "/openapi.yaml")
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType]?.hasPrefix("application/yaml") == true)
            let text = String(decoding: reply.body, as: UTF8.self)
            #expect(text.hasPrefix("openapi: 3."))
            #expect(Self.documentedOperations(text).contains("POST /v1/campaigns/{id}/claims"))
        }
    }
}

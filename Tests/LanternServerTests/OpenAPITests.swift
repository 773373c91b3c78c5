import Foundation
import Hummingbird
import LanternApp
import LanternAssistant
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

    /// The lines of the component schema `name`, up to the next component.
    static func component(_ name: String, in yaml: String) -> [String] {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(of: "    \(name):") else { return [] }
        let rest = lines[(start + 1)...].prefix { $0.hasPrefix("      ") }
        return rest.map { $0.trimmingCharacters(in: .whitespaces) }
    }

    @Test("The document's order line is the catalog's line and the tools' line: the same fields and the same choices")
    func theOrderLineIsOneShape() throws {
        let yaml = String(decoding: try OpenAPIDocument.bytes(), as: UTF8.self)
        let line = Self.component("OrderLine", in: yaml)
        func list(_ values: [String]) -> String { "[" + values.joined(separator: ", ") + "]" }
        let choices = [
            "size: {type: string, enum: \(list(CupSize.allCases.map(\.rawValue)))}",
            "sugar: {type: integer, enum: \(list(sugarLevels.map(String.init)))}",
            "ice: {type: string, enum: \(list(IceLevel.allCases.map(\.rawValue)))}",
            "toppings: {type: array, items: {type: string, enum: \(list(Topping.allCases.map(\.rawValue)))}}",
            "quantity: {type: integer, minimum: 1, maximum: \(Catalog.maximumCupsPerLine)}",
        ]
        for choice in choices { #expect(line.contains(choice), "openapi.yaml's OrderLine lacks \(choice)") }
        let fields = Set(line.compactMap { $0.split(separator: ":").first.map(String.init) }.filter { !$0.contains(" ") })
            .subtracting(["description", "type", "required", "properties"])
        let quote = AssistantTools.definitions.first { $0.name == "quote_order" }
        let toolLine = quote?.inputSchema["properties"]?["items"]?["items"]?["properties"]?.members?.map(\.0) ?? []
        #expect(fields == Set(toolLine))
        #expect(Self.component("OrderItem", in: yaml).contains("- {$ref: \"#/components/schemas/OrderLine\"}"))
        #expect(yaml.contains("items: {$ref: \"#/components/schemas/OrderLine\"}"), "the order request's items are order lines")
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

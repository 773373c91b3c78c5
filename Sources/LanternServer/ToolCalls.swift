import Foundation
import LanternApp
import LanternAssistant
import LanternCatalog
import LanternLedger
import LanternOrders

/// The assistant's tools as JSON, for a model's tool calls and MCP's `tools/call`: arguments
/// are read from JSON, the typed tools are called, and their answers are written in the API's
/// JSON shapes. Only this edge knows the tools' JSON; the rules are behind `OrderingTools`.
struct ToolCalls: ToolRunner {
    /// The typed tools, run as the signed-in user.
    let tools: any OrderingTools

    /// What a call answered, typed, for an engine that keeps more than the model's JSON.
    enum Output {
        /// A quote, and the request it priced.
        case quote(Quote, OrderRequest)
        /// An order placed or looked at.
        case order(Order)
    }

    func call(_ name: String, _ arguments: JSONValue) async -> ToolResult { await run(name, arguments).result }

    /// Calls tool `name`; answers its JSON result and, for quotes and orders, the typed value.
    func run(_ name: String, _ arguments: JSONValue) async -> (result: ToolResult, output: Output?) {
        do {
            return try await dispatch(name, arguments)
        } catch let failure as ToolFailure {
            return (.failure(code: failure.code, message: failure.message), nil)
        } catch {
            guard let refusal = APIError.translating(error) else { return (.failure(code: "tool_failed", message: "\(error)"), nil) }
            return (.failure(code: refusal.code, message: refusal.message), nil)
        }
    }

    private func dispatch(_ name: String, _ arguments: JSONValue) async throws -> (result: ToolResult, output: Output?) {
        switch name {
        case "find_stores":
            guard let lat = arguments["lat"]?.double, (-90...90).contains(lat), let lng = arguments["lng"]?.double,
                (-180...180).contains(lng)
            else { throw APIError(.unprocessableContent, "invalid_field", "lat and lng are required degrees") }
            let limit = Int(max(1, min(arguments["limit"]?.int ?? 5, 20)))
            let found = try await tools.findStores(near: GeoPoint(lat: lat, lng: lng), query: arguments["query"]?.string, limit: limit)
            return (try Self.success(.nearby(found, key: "stores")), nil)
        case "get_menu":
            guard let id = arguments["merchant_id"]?.string else {
                throw APIError(.unprocessableContent, "missing_field", "merchant_id is required")
            }
            let (store, entries) = try await tools.menu(of: id)
            return (try Self.success(.menu(of: store, entries)), nil)
        case "my_cards":
            return (try Self.success(.cards(try await tools.cards())), nil)
        case "claim_card":
            switch try await tools.claimCard(campaign: arguments["campaign"]?.string, referralCode: arguments["referral_code"]?.string) {
            case .issued(let card):
                var json = JSONWriter()
                json.beginObject()
                json.write(card, key: "card")
                json.endObject()
                return (try Self.success(json), nil)
            case .queued(let place):
                return (try Self.success(place.queuedAnswer()), nil)
            }
        case "quote_order":
            let request = try Self.request(arguments)
            let quote = try await tools.quote(request)
            return (try Self.success(.quote(quote)), .quote(quote, request))
        case "place_order":
            let order = try await tools.place(try Self.request(arguments), idempotencyKey: arguments["idempotency_key"]?.string ?? "")
            return (try Self.success(.envelope(order)), .order(order))
        case "order_status", "cancel_order":
            guard let id = arguments["order_id"]?.string else {
                throw APIError(.unprocessableContent, "missing_field", "order_id is required")
            }
            let order = name == "cancel_order" ? try await tools.cancel(id) : try await tools.order(id)
            return (try Self.success(.envelope(order)), .order(order))
        default:
            throw APIError(.notFound, "unknown_tool", "there is no tool '\(name)'")
        }
    }

    /// An order's arguments read as `POST /v1/orders` reads its body, with the same checks
    /// (`idempotency_key`, not a field of the body, is passed over like any unknown key).
    private static func request(_ arguments: JSONValue) throws -> OrderRequest {
        try JSONBody.decode(OrderBody.self, from: Array(arguments.text.utf8)).request()
    }

    /// A request as `quote_order`'s arguments, for a model to see what it quoted.
    static func arguments(of request: OrderRequest) -> JSONValue {
        var members: [(String, JSONValue)] = []
        if let merchant = request.merchantID { members.append(("merchant_id", .string(merchant))) }
        if let brand = request.brand { members.append(("brand", .string(brand))) }
        let items: [JSONValue] = request.items.map { line in
            var item: [(String, JSONValue)] = [("drink", .string(line.drink))]
            if let size = line.size { item.append(("size", .string(size.rawValue))) }
            if let sugar = line.sugar { item.append(("sugar", .int(Int64(sugar)))) }
            if let ice = line.ice { item.append(("ice", .string(ice.rawValue))) }
            item.append(("toppings", .array(line.toppings.map { .string($0.rawValue) })))
            item.append(("quantity", .int(Int64(line.quantity))))
            return .object(item)
        }
        members.append(("items", .array(items)))
        if let card = request.cardID { members.append(("card_id", .string(card))) }
        members.append(
            ("address", ["lat": .double(request.address.lat), "lng": .double(request.address.lng), "text": .string(request.address.text)]))
        return .object(members)
    }

    private static func success(_ json: JSONWriter) throws -> ToolResult {
        .success(try JSONValue.parse(String(decoding: json.bytes, as: UTF8.self)))
    }
}

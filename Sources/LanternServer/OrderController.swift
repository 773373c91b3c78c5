import Foundation
import Hummingbird
import LanternApp
import LanternCatalog
import LanternLedger
import LanternOrders
import LanternStorage
import NIOCore
import ServiceLifecycle
import Synchronization


/// Quotes, orders, their cancellation and live tracking for users; pickup and delivery for operations.
public struct OrderController: Sendable {
    let engine: LedgerEngine
    let directory: MerchantDirectory
    let board: MerchantBoard
    let events: OrderEvents
    let admission: AdmissionControl
    let dispatch: DispatchService?
    let experiments: ExperimentService?
    let clock: @Sendable () -> Date

    /// Creates the controller; with `dispatch`, orders show their rider's estimated delivery;
    /// with `experiments`, orders are routed by the variant their user is in.
    init(
        engine: LedgerEngine, directory: MerchantDirectory, board: MerchantBoard, events: OrderEvents,
        admission: AdmissionControl, dispatch: DispatchService? = nil, experiments: ExperimentService? = nil,
        clock: @escaping @Sendable () -> Date
    ) {
        self.dispatch = dispatch
        self.experiments = experiments
        self.engine = engine
        self.directory = directory
        self.board = board
        self.events = events
        self.admission = admission
        self.clock = clock
    }

    /// Routes under `/v1`.
    public func addRoutes(to group: RouterGroup<LanternRequestContext>) {
        group.post("orders/quote", use: quote)
        group.post("orders", use: place)
        group.get("orders/:id", use: show)
        group.post("orders/:id/cancel", use: cancel)
        group.get("me/orders", use: myOrders)
        group.get("me/orders/events", use: stream)
        group.post("dispatch/orders/:id/:action", use: dispatch)
    }

    /// The rules behind these routes, shared with MCP and the assistant's tools.
    var service: OrderService {
        OrderService(
            engine: engine, stores: StoreService(engine: engine, directory: directory, board: board, clock: clock),
            events: events, experiments: experiments, clock: clock)
    }

    @Sendable func quote(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let identity = try context.require(.user)
        let body = try JSONBody.decode(OrderBody.self, from: try await JSONBody.bytes(of: request))
        try await engine.prepareUser(identity.userID, holding: body.cardID)
        return JSONWriter.quote(try service.quote(try body.request(), user: identity.userID)).response(status: .ok)
    }

    @Sendable func place(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let identity = try context.require(.user)
        try admission.checkRate(user: identity.userID, address: context.clientAddress)
        guard let key = request.headers[.idempotencyKey] else {
            throw APIError(.badRequest, "missing_idempotency_key", "orders need an Idempotency-Key header")
        }
        guard (1...255).contains(key.utf8.count) else {
            throw APIError(.badRequest, "invalid_idempotency_key", "Idempotency-Key must be 1-255 bytes")
        }
        let bytes = try await JSONBody.bytes(of: request)
        let body = try JSONBody.decode(OrderBody.self, from: bytes)
        let (order, replayed) = try await service.place(
            try body.request(), key: key, digest: OrderService.digest(bytes), user: identity.userID, eventLoop: context.eventLoop)
        let json = JSONWriter.envelope(order)
        var response = json.response(status: replayed ? .ok : .created)
        if replayed { response.headers[.idempotentReplayed] = "true" }
        return response
    }

    @Sendable func show(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let identity = try context.require(.user, .merchant, .admin)
        let order = try await service.order(try context.parameters.require("id"), for: identity)
        let json = JSONWriter.envelope(order, estimatedDelivery: dispatch?.estimatedDelivery(of: order.id))
        return json.response(status: .ok)
    }

    @Sendable func cancel(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let identity = try context.require(.user)
        return try await change(context.parameters.require("id"), to: .cancelled, by: .user(identity.userID), context: context)
    }

    @Sendable func dispatch(_ request: Request, context: LanternRequestContext) async throws -> Response {
        _ = try context.require(.admin)
        let state: OrderState
        switch try context.parameters.require("action") {
        case "pickup": state = .pickedUp
        case "deliver": state = .delivered
        default: throw APIError(.notFound, "not_found", "no such route")
        }
        return try await change(context.parameters.require("id"), to: state, by: .operations, context: context)
    }

    private func change(_ id: String, to state: OrderState, by actor: OrderActor, context: LanternRequestContext) async throws
        -> Response
    {
        let order = try await service.change(id, to: state, by: actor, eventLoop: context.eventLoop)
        let json = JSONWriter.envelope(order)
        return json.response(status: .ok)
    }

    @Sendable func myOrders(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let identity = try context.require(.user)
        let orders = try await engine.orders(of: identity.userID)
        var json = JSONWriter()
        json.beginObject()
        json.beginArray("orders")
        for order in orders { json.write(order, estimatedDelivery: dispatch?.estimatedDelivery(of: order.id)) }
        json.endArray()
        json.endObject()
        return json.response(status: .ok)
    }

    /// Server-sent events: each of the caller's orders as it changes, `event: order`.
    @Sendable func stream(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let identity = try context.require(.user)
        let updates = events.subscribe(user: identity.userID)
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: .orderEvents(opening: "tracking orders of \(identity.userID)", updates: updates) { order in
                var json = JSONWriter()
                json.write(order, estimatedDelivery: self.dispatch?.estimatedDelivery(of: order.id))
                return json.bytes
            })
    }


}

/// Body of `POST /v1/orders` and `/v1/orders/quote`.
struct OrderBody: Decodable {
    struct Item: Decodable {
        var drink: String
        var size: String?
        var sugar: Int?
        var ice: String?
        var toppings: [String]?
        var quantity: Int?
    }

    /// A point and its text; text alone is located with the demo city's gazetteer.
    struct Address: Decodable {
        var lat: Double?
        var lng: Double?
        var text: String

        func value() throws -> DeliveryAddress {
            guard let lat, let lng else {
                guard lat == nil, lng == nil else {
                    throw APIError(.unprocessableContent, "invalid_field", "address needs both lat and lng, or text alone")
                }
                switch Gazetteer.locate(text) {
                case .located(let place):
                    guard (1...200).contains(text.count) else {
                        throw APIError(.unprocessableContent, "invalid_field", "address.text must be 1-200 characters")
                    }
                    return DeliveryAddress(lat: place.point.lat, lng: place.point.lng, text: text)
                case .outside(let place, let metres):
                    throw APIError(
                        .unprocessableContent, "address_outside_area",
                        "\(place.english) is \(Int(metres / 1_000)) km from the city centre; delivery reaches \(Int(Gazetteer.deliveryRadiusMetres / 1_000)) km")
                case .unknown:
                    throw APIError(
                        .unprocessableContent, "address_not_found",
                        "'\(text.prefix(60))' names no district, road or landmark of the city; send lat and lng, or a known place")
                }
            }
            guard (-90...90).contains(lat), (-180...180).contains(lng) else {
                throw APIError(.unprocessableContent, "invalid_field", "address.lat and address.lng must be degrees")
            }
            guard (1...200).contains(text.count) else {
                throw APIError(.unprocessableContent, "invalid_field", "address.text must be 1-200 characters")
            }
            return DeliveryAddress(lat: lat, lng: lng, text: text)
        }
    }

    var merchantID: String?
    var brand: String?
    var items: [Item]
    var cardID: String?
    var address: Address

    enum CodingKeys: String, CodingKey {
        case merchantID = "merchant_id"
        case brand, items
        case cardID = "card_id"
        case address
    }

    /// The request with every option checked against the catalog's vocabulary.
    func request() throws -> OrderRequest {
        var lines: [OrderLine] = []
        for (index, item) in items.enumerated() {
            func invalid(_ why: String) -> APIError { APIError(.unprocessableContent, "invalid_item", "items[\(index)]: \(why)") }
            let size = try item.size.map { text in
                guard let size = CupSize(rawValue: text) else { throw invalid("size is medium or large, not '\(text)'") }
                return size
            }
            let ice = try item.ice.map { text in
                guard let ice = IceLevel(rawValue: text) else {
                    throw invalid("ice is none, less, normal, room, warm or hot, not '\(text)'")
                }
                return ice
            }
            let toppings = try (item.toppings ?? []).map { text in
                guard let topping = Topping(called: text) else { throw invalid("there is no topping '\(text)'") }
                return topping
            }
            // A drink by its id or either of its menu names; an unknown one is left for pricing to name.
            let drink = Catalog.drink(called: item.drink)?.name ?? item.drink
            lines.append(
                OrderLine(drink: drink, size: size, sugar: item.sugar, ice: ice, toppings: toppings, quantity: item.quantity ?? 1))
        }
        return OrderRequest(merchantID: merchantID, brand: brand, items: lines, cardID: cardID, address: try address.value())
    }
}

extension JSONWriter {
    /// An order line: `{"drink","size","sugar","ice","toppings","quantity","unit_price_fen"}`.
    mutating func write(_ item: PricedLine) {
        let line = item.line
        beginObject()
        field("drink", line.drink)
        if let size = line.size { field("size", size.rawValue) } else { null("size") }
        if let sugar = line.sugar { field("sugar", sugar) } else { null("sugar") }
        if let ice = line.ice { field("ice", ice.rawValue) } else { null("ice") }
        field("toppings", line.toppings.map(\.rawValue))
        field("quantity", line.quantity)
        field("unit_price_fen", item.unitPriceFen)
        endObject()
    }

    /// `{"quote":{…}}`: what a quote answers over HTTP, MCP and to the assistant.
    static func quote(_ quote: Quote) -> JSONWriter {
        var json = JSONWriter()
        json.beginObject()
        json.write(quote, key: "quote")
        json.endObject()
        return json
    }

    /// A quote: its store, priced lines, card, money and times.
    mutating func write(_ quote: Quote, key: String? = nil) {
        let priced = quote.priced
        beginObject(key)
        field("merchant_id", priced.store.id)
        field("merchant_name", priced.store.name)
        field("distance_m", Int(priced.meters.rounded()))
        beginArray("items")
        for item in priced.items { write(item) }
        endArray()
        if let card = quote.cardID { field("card_id", card) } else { null("card_id") }
        field("subtotal_fen", priced.subtotalFen)
        field("delivery_fee_fen", priced.deliveryFeeFen)
        field("discount_fen", quote.discountFen)
        field("total_fen", quote.totalFen)
        field("ready_at", Date(millisecondsSince1970: priced.readyAtMs))
        field("promised_at", Date(millisecondsSince1970: priced.promisedAtMs))
        endObject()
    }

    /// `{"order":{…}}`.
    static func envelope(_ order: Order, estimatedDelivery: Date? = nil) -> JSONWriter {
        var json = JSONWriter()
        json.beginObject()
        json.write(order, key: "order", estimatedDelivery: estimatedDelivery)
        json.endObject()
        return json
    }

    /// An order as the API shows it; `estimated_delivery_at` when a rider has it on their route.
    mutating func write(_ order: Order, key: String? = nil, estimatedDelivery: Date? = nil, customer: String? = nil) {
        beginObject(key)
        field("id", order.id)
        field("state", order.state.rawValue)
        field("merchant_id", order.draft.merchantID)
        if let customer { field("customer", customer) }
        beginArray("items")
        for item in order.draft.items { write(item) }
        endArray()
        if let card = order.draft.cardID { field("card_id", card) } else { null("card_id") }
        field("subtotal_fen", order.subtotalFen)
        field("delivery_fee_fen", order.draft.deliveryFeeFen)
        field("discount_fen", order.discountFen)
        field("total_fen", order.totalFen)
        field("placed_at", Date(millisecondsSince1970: order.placedAtMs))
        field("promised_at", Date(millisecondsSince1970: order.draft.promisedAtMs))
        field("updated_at", Date(millisecondsSince1970: order.updatedAtMs))
        beginObject("address")
        field("lat", order.draft.address.lat)
        field("lng", order.draft.address.lng)
        field("text", order.draft.address.text)
        endObject()
        if let settlement = order.settlement { field("card_settlement", settlement == .returned ? "returned" : "released") }
        if let estimatedDelivery, !order.state.isFinal { field("estimated_delivery_at", estimatedDelivery) }
        endObject()
    }
}

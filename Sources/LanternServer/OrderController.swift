import Foundation
import Hummingbird
import NIOCore
import LanternCatalog
import LanternLedger
import LanternOrders
import LanternStorage
import ServiceLifecycle
import Synchronization

/// Fans order changes out to the live streams of the users they belong to.
public final class OrderEvents: Sendable {
    /// Streams by whose they are: `user:ID` for a customer's, `store:ID` for a store's counter.
    private let subscribers = Mutex<[String: [UInt64: AsyncStream<Order>.Continuation]]>([:])
    private let nextID = Atomic<UInt64>(0)
    private let observe: (@Sendable (Order) async -> Void)?

    /// A hub with no subscribers; `observe` hears of every order placed or changed (the stores'
    /// auto-pause, the experiments' guardrail): this node's before the change is answered,
    /// other nodes' as the order feed brings them.
    public init(observe: (@Sendable (Order) async -> Void)? = nil) { self.observe = observe }

    /// Whether `user` has a live stream open on this node.
    public func isFollowed(_ user: String) -> Bool {
        subscribers.withLock { !($0["user:" + user]?.isEmpty ?? true) }
    }

    /// Whether a counter page follows `store`'s orders on this node: someone is at the counter.
    public func isFollowed(store: String) -> Bool {
        subscribers.withLock { !($0["store:" + store]?.isEmpty ?? true) }
    }

    /// Sends `order` to every stream of its user.
    public func publish(_ order: Order) {
        let streams = subscribers.withLock { table in
            Array((table["user:" + order.draft.user] ?? [:]).values) + Array((table["store:" + order.draft.merchantID] ?? [:]).values)
        }
        for stream in streams { stream.yield(order) }
    }

    /// A stream of the changes to one store's orders (new, accepted, cancelled, picked up …).
    public func subscribe(store: String) -> AsyncStream<Order> { subscribe("store:" + store) }

    /// Moves an order through the ledger and tells its user's streams; a refusal is thrown as an API error.
    func change(
        _ id: String, to state: OrderState, by actor: OrderActor, on engine: LedgerEngine, eventLoop: (any EventLoop)? = nil
    ) async throws -> Order {
        try await engine.prepareOrder(id)
        switch try await engine.changeOrder(id, to: state, by: actor, eventLoop: eventLoop) {
        case .success(let order):
            await announce(order)
            return order
        case .failure(let error): throw APIError(error)
        }
    }

    /// Tells the streams and the observer of an order this node placed or changed.
    func announce(_ order: Order) async {
        publish(order)
        await observe?(order)
    }

    /// Tells the streams and the observer of an order another node placed or changed.
    func heard(_ order: Order) {
        publish(order)
        if let observe { Task { await observe(order) } }
    }

    /// A stream of `user`'s order changes, until the caller stops reading it.
    public func subscribe(user: String) -> AsyncStream<Order> { subscribe("user:" + user) }

    private func subscribe(_ key: String) -> AsyncStream<Order> {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream.makeStream(of: Order.self, bufferingPolicy: .bufferingNewest(64))
        subscribers.withLock { $0[key, default: [:]][id] = continuation }
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { state in
                state[key]?[id] = nil
                if state[key]?.isEmpty == true { state[key] = nil }
            }
        }
        return stream
    }
}

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
        return JSONWriter.quote(try service.quote(body, user: identity.userID)).response(status: .ok)
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
            body, key: key, digest: OrderService.digest(bytes), user: identity.userID, eventLoop: context.eventLoop)
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
    mutating func write(_ item: OrderItem) {
        beginObject()
        field("drink", item.drink)
        field("size", item.size)
        field("sugar", item.sugar)
        field("ice", item.ice)
        field("toppings", item.toppings)
        field("quantity", item.quantity)
        field("unit_price_fen", item.unitPriceFen)
        endObject()
    }

    /// `{"quote":{…}}`: what a quote answers over HTTP, MCP and to the assistant.
    static func quote(_ quote: Quote) -> JSONWriter {
        let priced = quote.priced
        var json = JSONWriter()
        json.beginObject()
        json.beginObject("quote")
        json.field("merchant_id", priced.store.id)
        json.field("merchant_name", priced.store.name)
        json.field("distance_m", Int(priced.meters.rounded()))
        json.beginArray("items")
        for item in priced.items { json.write(item) }
        json.endArray()
        if let card = quote.cardID { json.field("card_id", card) } else { json.null("card_id") }
        json.field("subtotal_fen", priced.subtotalFen)
        json.field("delivery_fee_fen", priced.deliveryFeeFen)
        json.field("discount_fen", quote.discountFen)
        json.field("total_fen", quote.totalFen)
        json.field("ready_at", Date(millisecondsSince1970: priced.readyAtMs))
        json.field("promised_at", Date(millisecondsSince1970: priced.promisedAtMs))
        json.endObject()
        json.endObject()
        return json
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

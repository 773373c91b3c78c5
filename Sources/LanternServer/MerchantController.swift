import Foundation
import Hummingbird
import LanternApp
import LanternCatalog
import LanternLedger
import LanternOrders
import LanternStorage

/// Nearby search, store pages and menus for everyone; the merchant's own orders and status for merchants.
public struct MerchantController: Sendable {
    let engine: LedgerEngine
    let directory: MerchantDirectory
    let board: MerchantBoard
    let events: OrderEvents
    let audit: AuditTrail
    let tokens: TokenAuthority
    let clock: @Sendable () -> Date

    /// Creates the controller; merchants' pauses, stock changes and rejections go to `audit`.
    init(
        engine: LedgerEngine, directory: MerchantDirectory, board: MerchantBoard, events: OrderEvents, audit: AuditTrail,
        tokens: TokenAuthority, clock: @escaping @Sendable () -> Date
    ) {
        self.audit = audit
        self.tokens = tokens
        self.engine = engine
        self.directory = directory
        self.board = board
        self.events = events
        self.clock = clock
    }

    /// Routes under `/v1`.
    public func addRoutes(to group: RouterGroup<LanternRequestContext>) {
        group.get("merchants", use: search)
        group.get("merchants/:id", use: show)
        group.get("merchants/:id/menu", use: menu)
        group.get("merchant/orders", use: myOrders)
        group.post("merchant/orders/:id/:action", use: act)
        group.put("merchant/status", use: setStatus)
        group.get("merchant/status", use: status)
        group.put("merchant/stock", use: setStock)
    }

    /// Stores as everyone sees them, shared with MCP and the assistant's tools.
    var stores: StoreService { StoreService(engine: engine, directory: directory, board: board, clock: clock) }

    @Sendable func search(_ request: Request, context: LanternRequestContext) async throws -> Response {
        _ = try context.require(.user, .merchant, .admin)
        let query = request.uri.queryParameters
        guard let lat = query["lat"].flatMap({ Double(String($0)) }), (-90...90).contains(lat),
            let lng = query["lng"].flatMap({ Double(String($0)) }), (-180...180).contains(lng)
        else {
            throw APIError(.badRequest, "invalid_query", "lat and lng are required: degrees, -90…90 and -180…180")
        }
        let radius = try query["radius_m"].map { text -> Double in
            guard let value = Double(String(text)), value > 0, value <= 50_000 else {
                throw APIError(.badRequest, "invalid_query", "radius_m must be 1…50000")
            }
            return value
        } ?? 3_000
        let limit = try query["limit"].map { text -> Int in
            guard let value = Int(String(text)), (1...100).contains(value) else {
                throw APIError(.badRequest, "invalid_query", "limit must be 1…100")
            }
            return value
        } ?? 20
        let text = query["q"].map { String($0).lowercased() }.flatMap { $0.isEmpty ? nil : $0 }
        let found = try stores.nearby(GeoPoint(lat: lat, lng: lng), radius: radius, limit: limit, text: text)
        return JSONWriter.nearby(found, key: "merchants").response(status: .ok)
    }

    /// `{"merchants":[…]}`: open, unpaused stores near `point` matching `text`, nearest first.
    @Sendable func show(_ request: Request, context: LanternRequestContext) async throws -> Response {
        _ = try context.require(.user, .merchant, .admin)
        let store = try stores.store(id: context.parameters.require("id"))
        let load = try stores.load(of: store)
        let nowMs = clock().millisecondsSince1970
        var json = JSONWriter()
        json.beginObject()
        json.storeFields(store, withCapacity: true)
        json.field("open", store.isOpen(atMinute: OrderDesk.localMinute(atMs: nowMs)))
        json.field("paused", load.paused)
        json.field("backlog_cups", load.backlogCups)
        json.field(
            "ready_at", Date(millisecondsSince1970: OrderDesk.readyAt(store: store, backlogCups: load.backlogCups, cups: 1, nowMs: nowMs)))
        json.endObject()
        return json.response(status: .ok)
    }

    /// `HH:MM` for minutes after midnight.
    static func clockText(_ minute: Int) -> String {
        let hours = minute / 60
        let minutes = minute % 60
        return (hours < 10 ? "0" : "") + "\(hours):" + (minutes < 10 ? "0" : "") + "\(minutes)"
    }

    @Sendable func menu(_ request: Request, context: LanternRequestContext) async throws -> Response {
        _ = try context.require(.user, .merchant, .admin)
        let store = try stores.store(id: context.parameters.require("id"))
        return JSONWriter.menu(of: store, try stores.menu(of: store)).response(status: .ok)
    }

    /// The merchant's store, from their token.
    private func ownStore(_ context: LanternRequestContext) throws -> Store { try merchantAndStore(context).store }

    /// The merchant (who acts, for the audit log) and their store.
    private func merchantAndStore(_ context: LanternRequestContext) throws -> (merchant: Identity, store: Store) {
        let identity = try context.require(.merchant)
        guard let id = identity.merchantID, let store = directory.store(id: id) else {
            throw APIError.forbidden("this merchant token names no store of this city")
        }
        return (identity, store)
    }

    @Sendable func myOrders(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let store = try ownStore(context)
        // `?state=placed,accepted`: only orders in those states.
        var states: Set<OrderState>?
        if let asked = request.uri.queryParameters.get("state") {
            states = []
            for name in asked.split(separator: ",") {
                guard let state = OrderState(rawValue: String(name)) else {
                    throw APIError(
                        .unprocessableContent, "invalid_field",
                        "state is one or more of \(OrderState.allCases.map(\.rawValue).joined(separator: ", ")), comma-separated")
                }
                states?.insert(state)
            }
        }
        let orders = try engine.read { $0.orders(atMerchant: store.id) }.filter { states?.contains($0.state) ?? true }
        var json = JSONWriter()
        json.beginObject()
        json.beginArray("orders")
        for order in orders.reversed() { json.write(order, customer: tokens.pseudonym(of: order.draft.user)) }
        json.endArray()
        json.endObject()
        return json.response(status: .ok)
    }

    /// The counter's view of its store: open or paused (by hand or by backlog), the backlog in
    /// minutes against the limit, and every drink and topping of its menu with its stock.
    @Sendable func status(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let store = try ownStore(context)
        let load = try stores.load(of: store)
        let outOfStock = board.outOfStock(store.id)
        var json = JSONWriter()
        json.beginObject()
        json.field("merchant_id", store.id)
        json.field("name", store.name)
        json.field("brand_zh", store.brandChinese)
        json.field("paused", board.isPaused(store.id))
        json.field("auto_paused", board.isAutoPaused(store.id))
        json.field("backlog_cups", load.backlogCups)
        json.field("backlog_minutes", (AutoPause.backlogMinutes(load.backlogCups, store: store) * 10).rounded() / 10)
        json.field("limit_minutes", AutoPause.standard.limitMinutes)
        json.beginArray("drinks")
        for name in store.drinks {
            guard let drink = Catalog.drink(named: name) else { continue }
            json.beginObject()
            json.field("id", name)
            json.field("name_zh", drink.chinese)
            json.field("in_stock", !outOfStock.contains(name))
            // Out all the same while the topping it cannot be made without is.
            if let defining = Catalog.definingTopping(of: name), outOfStock.contains(defining.rawValue) {
                json.field("missing", defining.rawValue)
            }
            json.endObject()
        }
        json.endArray()
        json.beginArray("toppings")
        let toppings = Topping.allCases.filter { topping in
            store.drinks.contains { Catalog.drink(named: $0)?.toppings.contains(topping) ?? false }
        }
        for topping in toppings {
            json.beginObject()
            json.field("id", topping.rawValue)
            json.field("name_zh", topping.chinese)
            json.field("in_stock", !outOfStock.contains(topping.rawValue))
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json.response(status: .ok)
    }

    /// Server-sent events for a store's counter: each of its orders as it changes (`event: order`),
    /// and a comment every 25 s. EventSource cannot send a header, so the merchant token comes
    /// as `?access_token=`.
    @Sendable func stream(_ request: Request, context: LanternRequestContext) async throws -> Response {
        guard let token = request.uri.queryParameters["access_token"] else { throw APIError.unauthorized() }
        let identity = try await tokens.verify(String(token))
        guard identity.role == .merchant, let id = identity.merchantID, directory.store(id: id) != nil else {
            throw APIError.forbidden("the counter's stream needs a merchant token of a store of this city")
        }
        let updates = events.subscribe(store: id)
        let tokens = self.tokens
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: .orderEvents(opening: "orders of \(id)", updates: updates) { order in
                var json = JSONWriter()
                json.write(order, customer: tokens.pseudonym(of: order.draft.user))
                return json.bytes
            })
    }

    @Sendable func act(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let (merchant, store) = try merchantAndStore(context)
        let id = try context.parameters.require("id")
        let state: OrderState
        switch try context.parameters.require("action") {
        case "accept": state = .accepted
        case "ready": state = .ready
        case "reject": state = .rejected
        default: throw APIError(.notFound, "not_found", "no such route")
        }
        var reason: String?
        if state == .rejected {
            // A rejection says why, for the customer and the audit log; an empty body is "other".
            struct Body: Decodable { var reason: String? }
            let bytes = try await JSONBody.bytes(of: request)
            reason = bytes.isEmpty ? "other" : try JSONBody.decode(Body.self, from: bytes).reason ?? "other"
            guard let reason, Self.rejectReasons.contains(reason) else {
                throw APIError(.unprocessableContent, "invalid_field", "reason is one of \(Self.rejectReasons.joined(separator: ", "))")
            }
        }
        let order = try await events.change(id, to: state, by: .merchant(store.id), on: engine, eventLoop: context.eventLoop)
        if let reason {
            try await audit.record("merchant.reject", by: merchant, target: id) { json in
                json.field("merchant_id", store.id)
                json.field("reason", reason)
            }
        }
        return JSONWriter.envelope(order).response(status: .ok)
    }

    /// Why a store may reject an order.
    static let rejectReasons = ["out_of_stock", "too_busy", "closing", "other"]

    @Sendable func setStatus(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let (merchant, store) = try merchantAndStore(context)
        struct Body: Decodable { var status: String }
        let body = try JSONBody.decode(Body.self, from: try await JSONBody.bytes(of: request))
        guard body.status == "open" || body.status == "paused" else {
            throw APIError(.unprocessableContent, "invalid_field", "status is 'open' or 'paused'")
        }
        do {
            try await board.setPaused(body.status == "paused", store: store.id)
        } catch {
            throw APIError.changeNotSaved
        }
        try await audit.record(body.status == "paused" ? "merchant.pause" : "merchant.resume", by: merchant, target: store.id) { _ in }
        return JSONBody.response(["merchant_id": store.id, "status": body.status])
    }

    @Sendable func setStock(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let (merchant, store) = try merchantAndStore(context)
        struct Body: Decodable { var item: String; var available: Bool }
        let body = try JSONBody.decode(Body.self, from: try await JSONBody.bytes(of: request))
        // By catalog id or either menu name: "珍珠", "pearls", "珍珠奶茶", "pearl milk tea".
        guard let item = Catalog.drink(called: body.item)?.name ?? Topping(called: body.item)?.rawValue else {
            throw APIError(
                .unprocessableContent, "invalid_field", "item is a drink or topping of the catalog, by its id or its Chinese or English name")
        }
        do {
            try await board.setAvailable(body.available, item: item, store: store.id)
        } catch {
            throw APIError.changeNotSaved
        }
        try await audit.record("merchant.stock", by: merchant, target: store.id) { json in
            json.field("item", item)
            json.field("available", body.available)
        }
        var json = JSONWriter()
        json.beginObject()
        json.field("merchant_id", store.id)
        json.field("item", item)
        json.field("available", body.available)
        json.endObject()
        return json.response(status: .ok)
    }
}

extension JSONWriter {
    /// A store's identity and place; with `withCapacity`, also its cups per hour, preparation time and hours.
    mutating func storeFields(_ store: Store, withCapacity: Bool = false) {
        field("id", store.id)
        field("name", store.name)
        field("brand", store.brand)
        field("brand_zh", store.brandChinese)
        field("lat", store.location.lat)
        field("lng", store.location.lng)
        guard withCapacity else { return }
        field("cups_per_hour", store.cupsPerHour)
        field("prep_minutes", store.prepMinutes)
        field("opens", MerchantController.clockText(store.opensAtMinute))
        field("closes", MerchantController.clockText(store.closesAtMinute))
    }
}

extension JSONWriter {
    /// `{key:[{store…,"distance_m","backlog_cups","ready_at"}]}`: stores found near a place.
    static func nearby(_ found: [NearbyStore], key: String) -> JSONWriter {
        var json = JSONWriter()
        json.beginObject()
        json.beginArray(key)
        for nearby in found {
            json.beginObject()
            json.storeFields(nearby.store)
            json.field("distance_m", Int(nearby.meters.rounded()))
            json.field("backlog_cups", nearby.backlogCups)
            json.field("ready_at", Date(millisecondsSince1970: nearby.readyAtMs))
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json
    }

    /// `{"merchant_id","items":[…]}`: a store's menu with prices and what is available.
    static func menu(of store: Store, _ entries: [MenuEntry]) -> JSONWriter {
        var json = JSONWriter()
        json.beginObject()
        json.field("merchant_id", store.id)
        json.beginArray("items")
        for entry in entries {
            json.beginObject()
            json.field("drink", entry.drink)
            json.field("name_zh", entry.chinese)
            json.field("medium_fen", entry.mediumFen)
            json.field("large_fen", entry.largeFen)
            json.field("sugar", entry.sugar)
            json.field("ice", entry.ice)
            json.beginArray("toppings")
            for topping in entry.toppings {
                json.beginObject()
                json.field("name", topping.name)
                json.field("name_zh", topping.chinese)
                json.field("price_fen", topping.priceFen)
                json.endObject()
            }
            json.endArray()
            json.field("available", entry.available)
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import LanternApp
import LanternAssistant
import LanternCatalog
import LanternLedger
import LanternStorage
import NIOCore

/// The assistant's tools, run as one signed-in user: every rule (prices, caps, ownership) is
/// enforced here and in the ledger, whatever the text, a model or an agent asks for.
struct ToolBox: ToolRunner {
    let user: String
    let orders: OrderService
    let stores: StoreService
    let engine: LedgerEngine
    let admission: AdmissionControl
    let eventLoop: (any EventLoop)?
    let clock: @Sendable () -> Date

    func call(_ name: String, _ arguments: JSONValue) async -> ToolResult {
        do {
            return .success(try await run(name, arguments))
        } catch {
            guard let refusal = APIError.translating(error) else { return .failure(code: "tool_failed", message: "\(error)") }
            return .failure(code: refusal.code, message: refusal.message)
        }
    }

    private func run(_ name: String, _ arguments: JSONValue) async throws -> JSONValue {
        try await engine.prepareUser(user)
        switch name {
        case "find_stores":
            guard let lat = arguments["lat"]?.double, (-90...90).contains(lat), let lng = arguments["lng"]?.double,
                (-180...180).contains(lng)
            else { throw APIError(.unprocessableContent, "invalid_field", "lat and lng are required degrees") }
            let limit = Int(max(1, min(arguments["limit"]?.int ?? 5, 20)))
            let query = arguments["query"]?.string?.lowercased()
            return try parse(.nearby(try stores.nearby(GeoPoint(lat: lat, lng: lng), radius: 5_000, limit: limit, text: query), key: "stores"))
        case "get_menu":
            guard let id = arguments["merchant_id"]?.string else {
                throw APIError(.unprocessableContent, "missing_field", "merchant_id is required")
            }
            let store = try stores.store(id: id)
            return try parse(.menu(of: store, try stores.menu(of: store)))
        case "my_cards":
            let cards = try await engine.cards(of: user)
            var json = JSONWriter()
            json.beginObject()
            json.beginArray("cards")
            for card in cards { json.write(card) }
            json.endArray()
            json.endObject()
            return try parse(json)
        case "claim_card":
            return try await claim(arguments)
        case "quote_order":
            return try parse(.quote(try orders.quote(try orderBody(arguments).request(), user: user)))
        case "place_order":
            try admission.checkRate(user: user, address: nil)
            guard let key = arguments["idempotency_key"]?.string, (1...255).contains(key.utf8.count) else {
                throw APIError(
                    .unprocessableContent, "missing_field",
                    "idempotency_key is required: a string unique to this order, sent again when retrying it, so that a retry returns the order instead of placing a second one")
            }
            let request = try orderBody(arguments).request()
            let (order, _) = try await orders.place(
                request, key: key, digest: OrderService.digest(Array(withoutKey(arguments).canonical.text.utf8)), user: user,
                eventLoop: eventLoop)
            let json = JSONWriter.envelope(order)
            return try parse(json)
        case "order_status", "cancel_order":
            guard let id = arguments["order_id"]?.string else {
                throw APIError(.unprocessableContent, "missing_field", "order_id is required")
            }
            let order =
                name == "cancel_order"
                ? try await orders.change(id, to: .cancelled, by: .user(user), eventLoop: eventLoop)
                : try await orders.order(id, for: Identity(userID: user, role: .user))
            let json = JSONWriter.envelope(order)
            return try parse(json)
        default:
            throw APIError(.notFound, "unknown_tool", "there is no tool '\(name)'")
        }
    }

    /// Claims the user's welcome card through the same admission and ledger as `POST …/claims`.
    private func claim(_ arguments: JSONValue) async throws -> JSONValue {
        try admission.checkRate(user: user, address: nil)
        let now = clock()
        let campaign: Campaign? = try engine.read { book in
            if let id = arguments["campaign"]?.string { return book.account(id)?.campaign }
            return book.allAccounts.first { $0.campaign.startsAt <= now && now < $0.campaign.endsAt && $0.cardsExpiredAt == nil }?.campaign
        }
        guard let campaign else { throw APIError(.notFound, "campaign_not_found", "no campaign is running") }
        let referral = arguments["referral_code"]?.string
        if let referral, !Identifier.isValid(referral) {
            throw APIError(.unprocessableContent, "invalid_field", "referral_code must be a user id")
        }
        if case .queued(let place) = try admission.admit(campaign: campaign, user: user, ticketText: nil) {
            return try parse(place.queuedAnswer())
        }
        let started = ContinuousClock.now
        defer { admission.finished(latency: (ContinuousClock.now - started).secondsValue) }
        let body = ClaimBody(referralCode: referral)
        let request = ClaimRequest(
            campaign: campaign.id, user: user, referralCode: referral,
            claimKey: ClaimKey(key: "assistant-claim", digest: ClaimDesk.digest(campaign: campaign.id, body: body)))
        switch try await engine.claim(request, eventLoop: eventLoop).outcome {
        case .issued(let card, _):
            var json = JSONWriter()
            json.beginObject()
            json.write(card, key: "card")
            json.endObject()
            return try parse(json)
        case .refused(let error):
            throw APIError(error)
        }
    }

    private func orderBody(_ arguments: JSONValue) throws -> OrderBody {
        try JSONBody.decode(OrderBody.self, from: Array(withoutKey(arguments).text.utf8))
    }

    private func withoutKey(_ arguments: JSONValue) -> JSONValue {
        guard let members = arguments.members else { return arguments }
        return .object(members.filter { $0.0 != "idempotency_key" })
    }

    private func parse(_ json: JSONWriter) throws -> JSONValue {
        try JSONValue.parse(String(decoding: json.bytes, as: UTF8.self))
    }
}

extension HTTPField.Name {
    /// `Server-Timing`: time spent in the server, in milliseconds.
    static let serverTiming = Self("Server-Timing")!
}


/// `POST /v1/assistant/messages`: one turn of the conversation, on the LLM engine when one is
/// configured, else (and whenever the model fails) on the offline engine.
public struct AssistantController: Sendable {
    let orders: OrderService
    let stores: StoreService
    let engine: LedgerEngine
    let admission: AdmissionControl
    let sessions: AssistantSessions
    let llm: LLMAssistant?
    let metrics: LanternMetrics?
    let clock: @Sendable () -> Date

    /// Creates the controller; with `llm`, turns go to the model first. Turns are counted by
    /// engine in `metrics`.
    init(
        orders: OrderService, stores: StoreService, engine: LedgerEngine, admission: AdmissionControl,
        sessions: AssistantSessions, llm: LLMAssistant?, metrics: LanternMetrics?, clock: @escaping @Sendable () -> Date
    ) {
        self.metrics = metrics
        self.sessions = sessions
        self.llm = llm
        self.orders = orders
        self.stores = stores
        self.engine = engine
        self.admission = admission
        self.clock = clock
    }

    /// Routes under `/v1`.
    public func addRoutes(to group: RouterGroup<LanternRequestContext>) {
        group.post("assistant/messages", use: message)
    }

    struct MessageBody: Decodable {
        struct Location: Decodable {
            var lat: Double
            var lng: Double
        }
        var sessionID: String?
        var text: String
        var location: Location?
        enum CodingKeys: String, CodingKey {
            case sessionID = "session_id"
            case text, location
        }
    }

    @Sendable func message(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let started = ContinuousClock.now
        let identity = try context.require(.user)
        try admission.checkRate(user: identity.userID, address: context.clientAddress)
        let body = try JSONBody.decode(MessageBody.self, from: try await JSONBody.bytes(of: request))
        guard (1...500).contains(body.text.count) else {
            throw APIError(.unprocessableContent, "invalid_field", "text must be 1-500 characters")
        }
        if let location = body.location, !(-90...90).contains(location.lat) || !(-180...180).contains(location.lng) {
            throw APIError(.unprocessableContent, "invalid_field", "location.lat and location.lng must be degrees")
        }
        let nowMs = clock().millisecondsSince1970
        var session = try await loadSession(body.sessionID, user: identity.userID, nowMs: nowMs)
        let tools = ToolBox(
            user: identity.userID, orders: orders, stores: stores, engine: engine, admission: admission,
            eventLoop: context.eventLoop, clock: clock)
        let location = body.location.map { (lat: $0.lat, lng: $0.lng) }
        let reply: AssistantReply
        if let llm {
            reply = await llm.respond(to: body.text, location: location, session: &session, tools: tools, nowMs: nowMs)
        } else {
            reply = await OfflineAssistant.respond(to: body.text, location: location, session: &session, tools: tools, nowMs: nowMs)
        }
        sessions.save(session)
        metrics?.recordAssistantTurn(engine: reply.engine)
        var json = JSONWriter()
        json.beginObject()
        json.field("session_id", session.id)
        json.field("reply", reply.reply)
        json.field("suggestions", reply.suggestions)
        json.endObject()
        var text = String(decoding: json.bytes.dropLast(), as: UTF8.self)
        if let pending = reply.pendingOrder { text += ",\"pending_order\":" + pending.text }
        if let order = reply.order { text += ",\"order\":" + order.text }
        text += ",\"engine\":\"\(reply.engine)\"}"
        // Server-Timing tells clients (and `lantern bench`) how long the turn took inside the server.
        let milliseconds = (ContinuousClock.now - started).secondsValue * 1_000
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/json; charset=utf-8",
                .serverTiming: "assistant;dur=" + String(format: "%.3f", milliseconds),
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The caller's session, a fresh one if none was named or it went idle; someone else's is 404.
    private func loadSession(_ id: String?, user: String, nowMs: Int64) async throws -> AssistantSession {
        guard let id else { return AssistantSession(id: Self.newID(), user: user, nowMs: nowMs) }
        guard Identifier.isValid(id), let session = try await sessions.load(id), session.user == user else { throw APIError(.notFound, "session_not_found", "no conversation with id '\(id)'; start a new one without session_id") }
        if nowMs - session.updatedAtMs > AssistantSession.idleLimitMs {
            return AssistantSession(id: Self.newID(), user: user, nowMs: nowMs)
        }
        return session
    }

    static func newID() -> String {
        var random = SystemRandomNumberGenerator()
        let hex = String(random.next() as UInt64, radix: 16)
        return "s-" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import LanternApp
import LanternAssistant
import LanternCatalog
import LanternLedger
import LanternStorage
import NIOCore

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
        let tools = AssistantToolbox(
            user: identity.userID, orders: orders, stores: stores, engine: engine, admission: admission,
            eventLoop: context.eventLoop, clock: clock)
        let location = body.location.map { (lat: $0.lat, lng: $0.lng) }
        let reply: AssistantReply
        if let llm {
            reply = await llm.respond(to: body.text, location: location, session: &session, tools: ToolCalls(tools: tools), nowMs: nowMs)
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
        if let pending = reply.pendingOrder { json.write(pending, key: "pending_order") }
        if let order = reply.order { json.write(order, key: "order") }
        json.field("engine", reply.engine)
        json.endObject()
        // Server-Timing tells clients (and `lantern bench`) how long the turn took inside the server.
        let milliseconds = (ContinuousClock.now - started).secondsValue * 1_000
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/json; charset=utf-8",
                .serverTiming: "assistant;dur=" + String(format: "%.3f", milliseconds),
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: json.bytes)))
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

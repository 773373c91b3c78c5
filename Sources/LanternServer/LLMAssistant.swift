import AsyncHTTPClient
import Foundation
import LanternApp
import LanternAssistant
import LanternLedger
import LanternOrders
import NIOCore
import Synchronization
import Tracing

/// Where the optional LLM engine sends its calls: any OpenAI-compatible `/v1/chat/completions`
/// with tool calling (Qwen's compatible mode, vLLM, llama.cpp server, Ollama).
public struct LLMConfiguration: Sendable {
    /// Base URL up to and including `/v1`, e.g. `http://127.0.0.1:11434/v1`.
    public var baseURL: String
    /// Model name.
    public var model: String
    /// Bearer key, if the endpoint needs one.
    public var apiKey: String?
    /// Longest one model call may take before the turn falls back to the offline engine.
    public var timeout: Duration
    /// Model calls in flight at once; a turn beyond this falls back at once.
    public var maxConcurrentCalls: Int

    /// Creates a configuration.
    public init(baseURL: String, model: String, apiKey: String? = nil, timeout: Duration = .seconds(8), maxConcurrentCalls: Int = 32) {
        self.baseURL = baseURL
        self.model = model
        self.apiKey = apiKey
        self.timeout = timeout
        self.maxConcurrentCalls = maxConcurrentCalls
    }
}

/// The LLM engine: the offline parse goes to the model as context, the model calls the same
/// tools, and a common order takes at most two model calls per turn. When the model is
/// saturated, slow or failing, the turn is answered by the offline engine, which says so.
public final class LLMAssistant: Sendable {
    private let configuration: LLMConfiguration
    private let client: HTTPClient
    private let inFlight = Atomic<Int>(0)
    private let calls = Atomic<Int>(0)

    /// Creates the engine; it uses the process-wide HTTP client.
    public init(_ configuration: LLMConfiguration, client: HTTPClient = .shared) {
        self.configuration = configuration
        self.client = client
    }

    /// Model calls made so far (for tests and metrics).
    public var modelCalls: Int { calls.load(ordering: .relaxed) }

    struct ModelUnavailable: Error, CustomStringConvertible {
        var description: String
    }

    static let systemPrompt = """
        You are Lantern's ordering assistant for a tea and coffee delivery promotion. You act only through the tools, \
        only for the signed-in user; you cannot grant cards, change prices or act for anyone else, and the tools refuse \
        such requests whatever you say. Use canonical drink names. Quote before ordering and place an order only after \
        the user has confirmed the quote. Answer briefly, in the user's language.
        """

    /// Answers one turn with the model, or falls back to `offline` and says so.
    func respond(
        to text: String, location: (lat: Double, lng: Double)?, session: inout AssistantSession, tools: ToolCalls,
        nowMs: Int64
    ) async -> AssistantReply {
        let zh = isChinese(text)
        guard inFlight.wrappingAdd(1, ordering: .relaxed).newValue <= configuration.maxConcurrentCalls else {
            inFlight.wrappingSubtract(1, ordering: .relaxed)
            return await fallback(text, location: location, session: &session, tools: tools, nowMs: nowMs, zh: zh, why: "busy")
        }
        defer { inFlight.wrappingSubtract(1, ordering: .relaxed) }
        if let location {
            session.lat = location.lat
            session.lng = location.lng
        }
        let parsed = OrderParser.json(OrderParser.parse(text))
        var context = "Offline parse of the user's message: \(parsed)."
        if let lat = session.lat, let lng = session.lng { context += " The user is at lat \(lat), lng \(lng)." }
        if let quoted = session.quotedRequest {
            context += " The quote awaiting confirmation was made with: \(ToolCalls.arguments(of: quoted).text)."
        }
        var messages: [JSONValue] = [
            ["role": "system", "content": .string(Self.systemPrompt + " " + context)]
        ]
        messages += session.history.map { ["role": .string($0.role), "content": .string($0.content)] }
        messages.append(["role": "user", "content": .string(text)])
        var pending: Quote?
        var order: Order?
        do {
            var answer = try await complete(messages, toolsAllowed: true)
            if let toolCalls = answer["tool_calls"]?.array, !toolCalls.isEmpty {
                messages.append(answer)
                for call in toolCalls {
                    let name = call["function"]?["name"]?.string ?? ""
                    var arguments = (try? JSONValue.parse(call["function"]?["arguments"]?.string ?? "{}")) ?? [:]
                    if name == "place_order" { arguments = Self.keyed(arguments, session: session.id) }
                    let (result, output) = await tools.run(name, arguments)
                    if case .quote(let quote, let request)? = output {
                        pending = quote
                        session.quotedRequest = request
                        session.awaiting = .confirmation
                    }
                    if name == "place_order", case .order(let placed)? = output {
                        order = placed
                        session.quotedRequest = nil
                        session.awaiting = .nothing
                        session.lastOrderID = placed.id
                    }
                    messages.append(["role": "tool", "tool_call_id": call["id"] ?? "", "content": .string(result.json.text)])
                }
                answer = try await complete(messages, toolsAllowed: false)
            }
            let reply = answer["content"]?.string ?? ""
            session.remember(user: text, assistant: reply)
            session.updatedAtMs = nowMs
            return AssistantReply(reply: reply, suggestions: [], pendingOrder: pending, order: order, engine: "llm")
        } catch {
            return await fallback(text, location: location, session: &session, tools: tools, nowMs: nowMs, zh: zh, why: "\(error)")
        }
    }

    /// A model's order gets its idempotency key from the server, not the model: the session and
    /// what is ordered, so the model placing the same order twice (a retry, a repeated tool call)
    /// replays the first.
    static func keyed(_ arguments: JSONValue, session: String) -> JSONValue {
        guard case .object(let members) = arguments else { return arguments }
        let order = members.filter { $0.0 != "idempotency_key" }
        let digest = OrderService.digest(Array(JSONValue.object(order).canonical.text.utf8))
        let key = "assistant-\(session)-" + String(digest.high, radix: 16) + String(digest.low, radix: 16)
        return .object(order + [("idempotency_key", .string(key))])
    }

    private func fallback(
        _ text: String, location: (lat: Double, lng: Double)?, session: inout AssistantSession, tools: ToolCalls,
        nowMs: Int64, zh: Bool, why: String
    ) async -> AssistantReply {
        var reply = await OfflineAssistant.respond(to: text, location: location, session: &session, tools: tools.tools, nowMs: nowMs)
        reply.engine = "offline-fallback"
        reply.reply = (zh ? "（AI 模型暂时不可用，已由快速助手为你处理。）" : "(The AI model is unavailable right now, so the fast assistant handled this.) ")
            + reply.reply
        return reply
    }

    /// One chat completion; returns the assistant message.
    private func complete(_ messages: [JSONValue], toolsAllowed: Bool) async throws -> JSONValue {
        calls.wrappingAdd(1, ordering: .relaxed)
        var body: [(String, JSONValue)] = [
            ("model", .string(configuration.model)), ("messages", .array(messages)), ("temperature", 0),
        ]
        body.append(
            (
                "tools",
                .array(
                    AssistantTools.definitions.map { tool in
                        [
                            "type": "function",
                            "function": ["name": .string(tool.name), "description": .string(tool.description), "parameters": tool.inputSchema],
                        ]
                    })
            ))
        body.append(("tool_choice", toolsAllowed ? "auto" : "none"))
        var request = HTTPClientRequest(url: configuration.baseURL.trimmingSuffix("/") + "/chat/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let key = configuration.apiKey { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        request.body = .bytes(ByteBuffer(string: JSONValue.object(body).text))
        let timeout = TimeAmount.nanoseconds(Int64(configuration.timeout.components.seconds) * 1_000_000_000 + configuration.timeout.components.attoseconds / 1_000_000_000)
        let (status, bytes) = try await withSpan("llm.chat_completion", ofKind: .client) { span in
            span.attributes["gen_ai.request.model"] = configuration.model
            let response = try await client.execute(request, timeout: timeout)
            span.attributes["http.response.status_code"] = Int(response.status.code)
            return (response.status, try await response.body.collect(upTo: 4 * 1024 * 1024))
        }
        guard status == .ok else { throw ModelUnavailable(description: "model answered \(status.code)") }
        let json = try JSONValue.parse(String(buffer: bytes))
        guard let message = json["choices"]?.array?.first?["message"] else {
            throw ModelUnavailable(description: "model answer has no message")
        }
        return message
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}

import Foundation
import Hummingbird
import LanternAssistant
import LanternStorage
import NIOCore

/// MCP over streamable HTTP at `/mcp`: JSON-RPC `initialize`, `ping`, `tools/list` and
/// `tools/call`, answered as JSON. The tools are the assistant's, run as the bearer token's user.
struct MCPController: Sendable {
    let orders: OrderController
    let merchants: MerchantController
    let engine: LedgerEngine
    let admission: AdmissionControl
    let clock: @Sendable () -> Date

    /// MCP protocol revisions this server speaks, newest first.
    static let protocolVersions = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]

    func addRoutes(to group: RouterGroup<LanternRequestContext>) {
        group.post(use: post)
        group.get { _, _ -> Response in
            // No server-initiated stream: every answer comes back on its POST.
            Response(status: .methodNotAllowed, headers: [.allow: "POST"])
        }
    }

    @Sendable func post(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let identity = try context.require(.user)
        let bytes = try await JSONBody.bytes(of: request)
        let tools = ToolBox(
            user: identity.userID, orders: orders, merchants: merchants, engine: engine, admission: admission,
            eventLoop: context.eventLoop, clock: clock)
        guard let message = try? JSONValue.parse(String(decoding: bytes, as: UTF8.self)) else {
            return Self.reply(Self.error(id: .null, code: -32700, message: "parse error: the body is not JSON"))
        }
        if let batch = message.array {
            var answers: [JSONValue] = []
            for element in batch {
                if let answer = await handle(element, tools: tools) { answers.append(answer) }
            }
            return answers.isEmpty ? Response(status: .accepted) : Self.reply(.array(answers))
        }
        guard let answer = await handle(message, tools: tools) else { return Response(status: .accepted) }
        return Self.reply(answer)
    }

    /// Answers one JSON-RPC message; `nil` for a notification.
    func handle(_ message: JSONValue, tools: any ToolRunner) async -> JSONValue? {
        guard message["jsonrpc"]?.string == "2.0", let method = message["method"]?.string else {
            return Self.error(id: message["id"] ?? .null, code: -32600, message: "invalid request: not JSON-RPC 2.0")
        }
        guard let id = message["id"] else { return nil }
        let params = message["params"] ?? [:]
        switch method {
        case "initialize":
            let asked = params["protocolVersion"]?.string ?? Self.protocolVersions[0]
            let version = Self.protocolVersions.contains(asked) ? asked : Self.protocolVersions[0]
            return Self.result(
                id: id,
                [
                    "protocolVersion": .string(version),
                    "capabilities": ["tools": ["listChanged": false]],
                    "serverInfo": ["name": "lantern", "version": "0.1.0"],
                    "instructions": "Order tea and coffee and manage free-order cards for the signed-in user. Quote before placing an order.",
                ])
        case "ping":
            return Self.result(id: id, [:])
        case "tools/list":
            return Self.result(
                id: id,
                [
                    "tools": .array(
                        AssistantTools.definitions.map { tool in
                            ["name": .string(tool.name), "description": .string(tool.description), "inputSchema": tool.inputSchema]
                        })
                ])
        case "tools/call":
            guard let name = params["name"]?.string, AssistantTools.definitions.contains(where: { $0.name == name }) else {
                return Self.error(id: id, code: -32602, message: "unknown tool")
            }
            let result = await tools.call(name, params["arguments"] ?? [:])
            let isError: Bool
            if case .failure = result { isError = true } else { isError = false }
            return Self.result(
                id: id,
                [
                    "content": [["type": "text", "text": .string(result.json.text)]],
                    "structuredContent": result.json,
                    "isError": .bool(isError),
                ])
        default:
            return Self.error(id: id, code: -32601, message: "method not found: \(method)")
        }
    }

    static func result(id: JSONValue, _ value: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "result": value]
    }

    static func error(id: JSONValue, code: Int64, message: String) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "error": ["code": .int(code), "message": .string(message)]]
    }

    static func reply(_ value: JSONValue) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: value.text)))
    }
}

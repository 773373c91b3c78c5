import Foundation
import HTTPTypes
import Hummingbird
import LanternApp
import LanternAssistant
import LanternStorage
import MCP
import NIOCore

/// MCP over streamable HTTP at `/mcp`, served by the MCP Swift SDK (`Server` on its stateless
/// HTTP transport): JSON-RPC `initialize` with protocol-version negotiation, `ping`, `tools/list`
/// and `tools/call`, answered as JSON; `MCP-Protocol-Version`, `Accept`, `Content-Type` and
/// `Origin` checked by the SDK's validators. The tools are the assistant's, run as the bearer
/// token's user.
///
/// One SDK server per request: the SDK's stateless transport pairs answers with requests by
/// JSON-RPC id, which two users may both call `1`, and its server takes `initialize` once; a
/// server of its own for each request keeps every user's calls apart.
struct MCPController: Sendable {
    let orders: OrderService
    let stores: StoreService
    let engine: LedgerEngine
    let admission: AdmissionControl
    let clock: @Sendable () -> Date

    func addRoutes(to group: RouterGroup<LanternRequestContext>) {
        group.post(use: post)
        group.get { _, _ -> Response in
            // No server-initiated stream: every answer comes back on its POST.
            Response(status: .methodNotAllowed, headers: [.allow: "POST"])
        }
    }

    /// The assistant's tools as MCP describes them.
    static let tools: [Tool] = AssistantTools.definitions.map { definition in
        Tool(name: definition.name, description: definition.description, inputSchema: mcpValue(definition.inputSchema))
    }

    @Sendable func post(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let identity = try context.require(.user)
        let bytes = try await JSONBody.bytes(of: request)
        let tools = ToolCalls(
            tools: AssistantToolbox(
                user: identity.userID, orders: orders, stores: stores, engine: engine, admission: admission,
                eventLoop: context.eventLoop, clock: clock))
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        // HTTP/1's Host travels as the request's authority, which the origin check compares with.
        if let authority = request.head.authority { headers["Host"] = authority }
        let transport = StatelessHTTPServerTransport(
            validationPipeline: StandardValidationPipeline(validators: [
                SameOriginValidator(), AcceptHeaderValidator(mode: .jsonOnly), ContentTypeValidator(), ProtocolVersionValidator(),
            ]))
        let server = Server(
            name: "lantern", version: "0.1.0",
            instructions: "Order tea and coffee and manage free-order cards for the signed-in user. Quote before placing an order.",
            capabilities: .init(tools: .init(listChanged: false)))
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: Self.tools) }
        await server.withMethodHandler(CallTool.self) { params in
            guard AssistantTools.definitions.contains(where: { $0.name == params.name }) else {
                throw MCPError.invalidParams("unknown tool: \(params.name)")
            }
            let arguments = params.arguments.map { Self.jsonValue(.object($0)) } ?? [:]
            let result = await tools.call(params.name, arguments)
            let isError = if case .failure = result { true } else { false }
            return CallTool.Result(
                content: [.text(text: result.json.text, annotations: nil, _meta: nil)],
                structuredContent: Self.mcpValue(result.json) as Value?, isError: isError, _meta: nil)
        }
        try await server.start(transport: transport)
        let answer = await transport.handleRequest(
            MCP.HTTPRequest(method: "POST", headers: headers, body: Data(bytes), path: request.uri.path))
        await server.stop()
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        return Response(
            status: .init(code: answer.statusCode), headers: fields,
            body: answer.bodyData.map { .init(byteBuffer: ByteBuffer(bytes: $0)) } ?? .init())
    }

    /// A JSON value as MCP's `Value`.
    static func mcpValue(_ value: JSONValue) -> Value {
        (try? JSONDecoder().decode(Value.self, from: Data(value.text.utf8))) ?? .null
    }

    /// MCP's `Value` as a JSON value.
    static func jsonValue(_ value: Value) -> JSONValue {
        guard let data = try? JSONEncoder().encode(value) else { return .null }
        return (try? JSONValue.parse(String(decoding: data, as: UTF8.self))) ?? .null
    }
}

/// Refuses a request whose `Origin` is another site's: a page elsewhere must not drive the tools
/// with a browser's credentials (DNS rebinding included). Clients that are not browsers send no
/// `Origin` and pass; a browser page of this server (`Origin` naming the `Host` it asked) passes.
struct SameOriginValidator: HTTPRequestValidator {
    func validate(_ request: MCP.HTTPRequest, context: HTTPValidationContext) -> MCP.HTTPResponse? {
        guard let origin = request.header(HTTPHeaderName.origin) else { return nil }
        let host = request.header(HTTPHeaderName.host) ?? ""
        if !host.isEmpty, origin == "http://\(host)" || origin == "https://\(host)" { return nil }
        return .error(statusCode: 403, .invalidRequest("Forbidden: Origin not allowed"))
    }
}

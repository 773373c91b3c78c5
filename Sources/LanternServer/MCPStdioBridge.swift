import AsyncHTTPClient
import Foundation
import LanternAssistant
import NIOCore

/// Carries MCP's stdio transport (one JSON-RPC message per line) to a Lantern server's `/mcp`,
/// so a local agent can use the tools of a running server as one user.
public struct MCPStdioBridge: Sendable {
    /// The server's base URL, e.g. `http://127.0.0.1:8080`.
    public var serverURL: String
    /// Bearer token of the user the tools act for.
    public var token: String
    private let client: HTTPClient

    /// Creates a bridge; it uses the process-wide HTTP client.
    public init(serverURL: String, token: String, client: HTTPClient = .shared) {
        self.serverURL = serverURL.hasSuffix("/") ? String(serverURL.dropLast()) : serverURL
        self.token = token
        self.client = client
    }

    /// Forwards one line; returns the line to write back, or `nil` (a notification, or blank input).
    public func forward(_ line: String) async -> String? {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        let id = (try? JSONValue.parse(trimmed))?["id"]
        var request = HTTPClientRequest(url: serverURL + "/mcp")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json, text/event-stream")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.body = .bytes(ByteBuffer(string: trimmed))
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 4 * 1024 * 1024)
            if response.status == .accepted { return nil }
            guard response.status == .ok else {
                let detail = (try? JSONValue.parse(String(buffer: body)))?["error"]?["message"]?.string ?? "HTTP \(response.status.code)"
                return id.map { Self.error(id: $0, message: "Lantern refused: \(detail)") }
            }
            return String(buffer: body)
        } catch {
            return id.map { Self.error(id: $0, message: "Lantern server unreachable: \(error)") }
        }
    }

    /// A JSON-RPC internal error (-32603) for the request `id`, as one line.
    private static func error(id: JSONValue, message: String) -> String {
        JSONValue.object([
            ("jsonrpc", "2.0"), ("id", id), ("error", .object([("code", .int(-32603)), ("message", .string(message))])),
        ]).text
    }
}

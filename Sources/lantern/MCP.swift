import ArgumentParser
import AsyncHTTPClient
import Foundation
import LanternApp
import LanternServer

/// `lantern mcp`: MCP over stdio for local agents, bridged to a running server's `/mcp`.
struct MCP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve the assistant's tools over MCP's stdio transport, acting as one user of a running server.",
        discussion: "Reads one JSON-RPC message per line from standard input and writes each answer as one line.")

    @Option(name: .long, help: "The Lantern server.") var url = "http://127.0.0.1:8080"
    @Option(name: .long, help: "Bearer token of the user (or mint one with --user and the server's secret).") var token: String?
    @Option(name: .long, help: "User id to mint a token for, with the secret.") var user: String?
    @OptionGroup var secret: SecretOption

    func run() async throws {
        let bearer: String
        if let token {
            bearer = token
        } else if let user {
            bearer = try await TokenAuthority(secret: try secret.resolve()).mint(Identity(userID: user, role: .user))
        } else {
            throw ValidationError("give --token, or --user with the server's secret")
        }
        // A server that is down is reported within seconds rather than after connect retries.
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(3))))
        let bridge = MCPStdioBridge(serverURL: url, token: bearer, client: client)
        while let line = readLine(strippingNewline: true) {
            if let answer = await bridge.forward(line) {
                FileHandle.standardOutput.write(Data((answer + "\n").utf8))
            }
        }
        try await client.shutdown()
    }
}

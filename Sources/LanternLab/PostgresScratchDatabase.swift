import Foundation
import Logging
import LanternStorage
import PostgresNIO

/// A database created on a PostgreSQL server for one benchmark or test, dropped afterwards.
public struct PostgresScratchDatabase: Sendable {
    /// URL of the scratch database.
    public let url: String
    private let serverURL: String
    private let name: String
    private let logger: Logger

    /// Creates a fresh database named `prefix_<random>` on the server at `serverURL`.
    public static func create(serverURL: String, prefix: String, logger: Logger) async throws -> PostgresScratchDatabase {
        let name = "\(prefix)_\(UInt32.random(in: 0...UInt32.max))"
        try await run(serverURL, "CREATE DATABASE \(name)", logger: logger)
        guard var components = URLComponents(string: serverURL) else { throw UnreadableURL(url: serverURL) }
        components.path = "/\(name)"
        return PostgresScratchDatabase(url: components.string!, serverURL: serverURL, name: name, logger: logger)
    }

    /// A server URL that is not a URL.
    public struct UnreadableURL: Error, CustomStringConvertible {
        /// What was given.
        public var url: String
        /// Says so.
        public var description: String { "cannot read PostgreSQL URL '\(url)'" }
    }

    /// Drops the database, disconnecting anyone still on it.
    public func drop() async throws {
        try await Self.run(serverURL, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)", logger: logger)
    }

    private static func run(_ url: String, _ sql: String, logger: Logger) async throws {
        let client = PostgresClient(configuration: try PostgresLedgerStore.configuration(url: url), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await client.run() }
            try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            tasks.cancelAll()
        }
    }
}

import Foundation
import Logging
import PostgresNIO
import Testing

@testable import LanternStorage

/// Passes every warning a logger is given on to a stream the test reads.
struct WarningsHandler: LogHandler {
    let warnings: AsyncStream<(String, Logger.Metadata)>.Continuation
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .warning

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        if event.level == .warning { warnings.yield(("\(event.message)", event.metadata ?? [:])) }
    }
}

@Suite struct UnansweredDatabaseTests {
    /// A loopback port nothing listens on: bound once, then let go.
    func closedPort() throws -> Int {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                guard bind(socket, $0, length) == 0, getsockname(socket, $0, &length) == 0 else {
                    throw POSIXError(.EADDRINUSE)
                }
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test(.timeLimit(.minutes(1))) func aNodeWaitingForADatabaseThatDoesNotAnswerSaysSoAndNamesIt() async throws {
        let port = try closedPort()
        let (warnings, continuation) = AsyncStream<(String, Logger.Metadata)>.makeStream()
        let logger = Logger(label: "lantern.storage-test") { _ in WarningsHandler(warnings: continuation) }
        let store = try PostgresLedgerStore(
            url: "postgres://lantern:secret@127.0.0.1:\(port)/ledger", logger: logger, node: "n1")
        let pool = Task { await store.client.run() }
        let migration = Task { try await store.migrate(warningEvery: .milliseconds(100)) }
        // The node keeps saying so while it waits (the pool may warn of its own as well).
        var said = 0
        for await (message, metadata) in warnings where message.contains("PostgreSQL has not answered") {
            #expect(metadata["database"] == "127.0.0.1:\(port)/ledger")
            said += 1
            if said == 2 { break }
        }
        #expect(said == 2)
        migration.cancel()
        pool.cancel()
        _ = await migration.result
        await pool.value
    }
}

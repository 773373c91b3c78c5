import Foundation
import Hummingbird
import NIOCore
import NIOPosix
import Testing

@testable import LanternServer
@testable import LanternStorage

@Suite("Server lifecycle")
struct ServerLifecycleTests {
    private struct StillRunning: Error {}

    /// Another service of the group failing cancels the rest; a service that waited only for a
    /// graceful shutdown kept the process alive for good, silent, with its port never bound.
    @Test("A server whose port is taken stops with the error instead of running on without it", arguments: StoreKind.available)
    func aTakenPortEndsTheServer(kind: StoreKind) async throws {
        let taken = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(taken.localAddress?.port)
        let store = try await TestStore.make(kind)
        let configuration = ServerConfiguration(
            port: port, jwtSecret: testSecret, database: store.location, seedDemo: false, logLevel: .critical)
        let app = try await buildApplication(configuration)
        // Raced, not awaited: a server that never stops would hold the test with it. Thirty
        // seconds is long enough for a slow machine's start; a taken port is found at once.
        let ended = await LedgerEngine.first(within: .seconds(30), orFail: StillRunning()) { try await app.run() }
        try await taken.close()
        try? await store.remove()
        switch ended {
        case .success: Issue.record("the server ran to its end without its port")
        case .failure(let error): #expect(!(error is StillRunning), "the server was still running 30 s after failing to bind")
        }
    }
}

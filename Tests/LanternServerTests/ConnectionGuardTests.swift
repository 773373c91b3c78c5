import Foundation
import Glibc
import Testing

@testable import LanternServer

/// A blocking loopback socket, from a chosen local address, for what clients do to connections.
private final class Socket: @unchecked Sendable {
    let fd: Int32

    init(port: Int, from source: String = "127.0.0.1") throws {
        fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = in_port_t(UInt16(port).bigEndian)
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(fd) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// What the server sends until it closes the connection (or 5 s pass), and how long that took.
    func readUntilClosed() -> (text: String, closed: Bool, seconds: Double) {
        let started = Date()
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += chunk[..<count]
                continue
            }
            // Closed: an orderly end, or a reset (a close with bytes still unread); not a timeout.
            let closed = count == 0 || errno == ECONNRESET
            return (String(decoding: received, as: UTF8.self), closed, Date().timeIntervalSince(started))
        }
    }

    /// One whole answer with a Content-Length body.
    func readAnswer() -> String {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            let text = String(decoding: received, as: UTF8.self)
            if let end = text.range(of: "\r\n\r\n"),
                let line = text[..<end.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
                let length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)),
                received.count >= text[..<end.upperBound].utf8.count + length
            {
                return text
            }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return text }
            received += chunk[..<count]
        }
    }
}

/// Runs blocking socket work on a thread of its own, off the cooperative pool the server needs.
private func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

@Suite("Connections: caps and deadlines")
struct ConnectionGuardTests {
    // Each test makes short only the limit it is about, so that a machine slowed by the rest of
    // the suite does not trip the others: a slow answer is not a slow client.
    static let shortDeadlines = ConnectionLimits(perAddress: 100, total: 1_000, requestTimeout: .seconds(1), idleTimeout: .milliseconds(1_200))
    static let threePerAddress = ConnectionLimits(perAddress: 3, total: 1_000, requestTimeout: .seconds(30), idleTimeout: .seconds(30))
    static let shortIdle = ConnectionLimits(perAddress: 100, total: 1_000, requestTimeout: .seconds(30), idleTimeout: .milliseconds(1_500))

    @Test("A head sent a byte at a time, an unfinished body and a silent connection are closed after their deadline")
    func slowClientsAreClosed() async throws {
        try await withTestApp(.sqlite, over: .live, connections: Self.shortDeadlines) { app in
            let port = try #require(app.client.port)
            let results = try await offPool { () -> [(String, Bool, Double)] in
                let slow = try Socket(port: port)
                slow.send("GET /healthz HTTP/1.1\r\nHo")
                let body = try Socket(port: port)
                body.send("POST /v1/orders HTTP/1.1\r\nHost: l\r\nContent-Length: 1000\r\n\r\n0123456789")
                let silent = try Socket(port: port)
                return [slow.readUntilClosed(), body.readUntilClosed(), silent.readUntilClosed()].map { ($0.text, $0.closed, $0.seconds) }
            }
            for (index, (text, closed, seconds)) in results.enumerated() {
                #expect(closed, "connection \(index) still open: \(text)")
                #expect(seconds < 3, "connection \(index) closed after \(seconds) s")
            }
            // The deadline is the request's, not the connection's: a prompt request is answered.
            let answer = try await offPool { () -> String in
                let prompt = try Socket(port: port)
                prompt.send("GET /healthz HTTP/1.1\r\nHost: l\r\n\r\n")
                return prompt.readAnswer()
            }
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
        }
    }

    @Test("Past the per-address cap a connection gets 503 with Retry-After at once, while another address is still served")
    func perAddressCap() async throws {
        try await withTestApp(.sqlite, over: .live, connections: Self.threePerAddress) { app in
            let port = try #require(app.client.port)
            let (refused, other) = try await offPool { () -> (String, String) in
                let held = try (0..<3).map { _ in try Socket(port: port) }
                for socket in held { socket.send("GET /healthz HTTP/1.1\r\nHost: l\r\n\r\n") }
                for socket in held { _ = socket.readAnswer() }
                let fourth = try Socket(port: port)
                let refused = fourth.readUntilClosed().text
                let fresh = try Socket(port: port, from: "127.0.0.2")
                fresh.send("GET /healthz HTTP/1.1\r\nHost: l\r\n\r\n")
                return (refused, fresh.readAnswer())
            }
            #expect(refused.hasPrefix("HTTP/1.1 503"), "\(refused)")
            #expect(refused.contains("Retry-After: 1"))
            #expect(refused.contains("too_many_connections"))
            #expect(other.hasPrefix("HTTP/1.1 200"), "\(other)")
        }
    }

    @Test("Claims answered on the event loop count as activity: a busy connection outlives the idle timeout")
    func fastPathTrafficKeepsAConnection() async throws {
        try await withTestApp(.sqlite, over: .live, connections: Self.shortIdle) { app in
            let port = try #require(app.client.port)
            let token = try await app.token("ann")
            let admin = try await app.token("ops", role: .admin)
            let campaign = app.campaignBody()
            let statuses = try await offPool { () -> [String] in
                // The test client's own connection may already be idle past the timeout; a socket of
                // our own creates the campaign.
                let setup = try Socket(port: port)
                setup.send(
                    "POST /v1/campaigns HTTP/1.1\r\nHost: l\r\nAuthorization: Bearer \(admin)\r\nContent-Type: application/json\r\n"
                        + "Content-Length: \(campaign.utf8.count)\r\n\r\n\(campaign)")
                var statuses = [String(setup.readAnswer().prefix(12))]
                let socket = try Socket(port: port)
                for round in 0..<10 {
                    socket.send(
                        "POST /v1/campaigns/spring/claims HTTP/1.1\r\nHost: l\r\nAuthorization: Bearer \(token)\r\n"
                            + "Idempotency-Key: k\(round)\r\nContent-Length: 2\r\n\r\n{}")
                    statuses.append(String(socket.readAnswer().prefix(12)))
                    // 2 s in all, past the 1.5 s idle timeout, with gaps far inside it even on a loaded machine.
                    Thread.sleep(forTimeInterval: 0.2)
                }
                return statuses
            }
            // The campaign is created; one welcome card each: the first claim issues it, the next nine
            // are answered 409 on the same connection.
            #expect(statuses == ["HTTP/1.1 201", "HTTP/1.1 201"] + Array(repeating: "HTTP/1.1 409", count: 9), "\(statuses)")
        }
    }
}

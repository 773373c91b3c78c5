import ArgumentParser
import AsyncHTTPClient
import Foundation
import Histogram
import LanternAdmission
import LanternApp
import LanternLab
import LanternReports
import LanternServer
import NIOCore
import NIOHTTP1
import Synchronization

struct Rush: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a flash crowd against a Lantern server and report what it got.",
        discussion: """
            Each simulated user claims the campaign's card once, honours the waiting room (polls
            its ticket, then claims with it) and retries only as Retry-After says. Bounded in time.
            """)

    @Option(name: .long, help: "Server to rush (loopback unless --allow-remote).") var url = "http://127.0.0.1:8080"
    @Option(name: .long, help: "Simulated users.") var users = 10_000
    @Option(name: .long, help: "Arrival profile: step, ramp or spike.") var arrival = "spike"
    @Option(name: .long, help: "Seconds over which users arrive.") var duration: Double = 30
    @Option(name: .long, help: "Seconds users may keep waiting after the last arrival.") var grace: Double = 30
    @Option(name: .long, help: "Campaign to claim from.") var campaign = "spring-festival"
    @Option(name: .long, help: "HTTP connections to the server.") var connections = 256
    @Option(name: .long, help: "Prefix of the simulated user ids, after test- (default: random per run).") var userPrefix: String?
    @Flag(name: .long, help: "Allow a server address outside 127.0.0.0/8 and ::1.") var allowRemote = false
    @Flag(name: .long, help: "Print the report as JSON.") var json = false
    @OptionGroup var secret: SecretOption

    func run() async throws {
        guard let profile = ArrivalProfile(rawValue: arrival) else {
            throw ValidationError("--arrival takes step, ramp or spike")
        }
        guard let host = URLComponents(string: url)?.host else { throw ValidationError("cannot read --url") }
        guard allowRemote || host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]" else {
            throw ValidationError("rush targets loopback only; pass --allow-remote to aim elsewhere")
        }
        // Test traffic: every simulated user is in the test- namespace, which reports leave out.
        let prefix = CampaignReport.testUserPrefix + (userPrefix ?? "rush\(UInt16.random(in: 0...UInt16.max))x")
        let tokens = try await TokenAuthority(secret: try secret.resolve())
        var userTokens: [String] = []
        userTokens.reserveCapacity(users)
        for index in 0..<users {
            userTokens.append(try await tokens.mint(Identity(userID: "\(prefix)\(index)", role: .user)))
        }
        var poolConfiguration = HTTPClient.Configuration.ConnectionPool()
        poolConfiguration.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(
                timeout: .init(connect: .seconds(5), read: .seconds(10)), connectionPool: poolConfiguration))
        let recorder = RushRecorder()
        let arrivals = profile.arrivalTimes(users: users, duration: duration)
        let start = ContinuousClock.now
        let deadline = start + .seconds(duration + grace)
        let simulation = UserSimulation(
            client: client, baseURL: url, campaign: campaign, recorder: recorder, start: start, deadline: deadline)
        await withDiscardingTaskGroup { group in
            for (index, at) in arrivals.enumerated() {
                try? await Task.sleep(until: start + .seconds(at), clock: .continuous)
                let token = userTokens[index]
                group.addTask { await simulation.run(user: index, token: token) }
            }
        }
        let elapsed = (ContinuousClock.now - start).secondsValue
        let ledger = await simulation.campaignFigures(token: userTokens.first ?? "")
        try await client.shutdown()
        let report = recorder.report(
            users: users, profile: profile, duration: duration, elapsed: elapsed, ledger: ledger)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.table)
        }
        if report.ledgerInvariantsHold == false { throw ExitCode(1) }
    }
}

/// One simulated user's behaviour against the server.
struct UserSimulation: Sendable {
    let client: HTTPClient
    let baseURL: String
    let campaign: String
    let recorder: RushRecorder
    let start: ContinuousClock.Instant
    let deadline: ContinuousClock.Instant

    func run(user: Int, token: String) async {
        recorder.arrived()
        var admittedTicket: String?
        var waitingTicket: String?
        // The solution of the ticket's puzzle, when the campaign asks for proof of work.
        var proof: String?
        var queuedAt: ContinuousClock.Instant?
        while ContinuousClock.now < deadline {
            if let ticket = waitingTicket {
                let pollHeaders: HTTPHeaders = proof.map { ["Queue-Proof": $0] } ?? [:]
                guard let answer = await send(.GET, "/v1/queue/\(ticket)", token: token, kind: "poll", headers: pollHeaders)
                else {
                    await pause(1)
                    continue
                }
                guard answer.status == 200 else {
                    recorder.finished(.failed)
                    return
                }
                if answer.json["admitted"] as? Bool == true {
                    recorder.admitted(user: user, after: queuedAt.map { ContinuousClock.now - $0 }, at: ContinuousClock.now - start)
                    admittedTicket = ticket
                    waitingTicket = nil
                } else if answer.json["skipped"] as? Bool == true {
                    // Passed over while away (a client slower to ask than the window): rejoin.
                    waitingTicket = nil
                    proof = nil
                } else {
                    await pause(answer.json["poll_after_s"] as? Double ?? 1)
                    continue
                }
            }
            var headers: HTTPHeaders = ["Idempotency-Key": "claim-\(user)", "Content-Type": "application/json"]
            if let admittedTicket { headers.add(name: "Queue-Ticket", value: admittedTicket) }
            if admittedTicket != nil, let proof { headers.add(name: "Queue-Proof", value: proof) }
            let kind = admittedTicket == nil ? "claim" : "claim_with_ticket"
            guard
                let answer = await send(
                    .POST, "/v1/campaigns/\(campaign)/claims", token: token, kind: kind, headers: headers, body: "{}")
            else {
                await pause(1)
                continue
            }
            switch answer.status {
            case 201:
                recorder.finished(.card)
                return
            case 409, 410:
                recorder.finished(.refused)
                return
            case 202:
                waitingTicket = answer.json["ticket"] as? String
                admittedTicket = nil
                if let ticket = waitingTicket, let puzzle = answer.json["puzzle"] as? [String: Any], let bits = puzzle["bits"] as? Int {
                    proof = QueuePuzzle.solve(ticket: ticket, bits: bits)
                } else {
                    proof = nil
                }
                if queuedAt == nil {
                    queuedAt = ContinuousClock.now
                    recorder.queued(user: user)
                }
                await pause(answer.json["poll_after_s"] as? Double ?? 1)
            case 429, 503:
                await pause(answer.retryAfter ?? 1)
            default:
                recorder.finished(.failed)
                return
            }
        }
        recorder.finished(.unfinished)
    }

    private func pause(_ seconds: Double) async {
        let until = min(ContinuousClock.now + .seconds(max(0.05, seconds)), deadline)
        try? await Task.sleep(until: until, clock: .continuous)
    }

    struct Answer {
        var status: Int
        var json: [String: Any]
        var retryAfter: Double?
    }

    private func send(
        _ method: HTTPMethod, _ path: String, token: String, kind: String, headers: HTTPHeaders = [:],
        body: String? = nil
    ) async -> Answer? {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers = headers
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let sent = ContinuousClock.now
        do {
            let response = try await client.execute(request, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            recorder.answered(kind: kind, status: Int(response.status.code), latency: ContinuousClock.now - sent)
            let json = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
            return Answer(
                status: Int(response.status.code), json: json,
                retryAfter: response.headers.first(name: "Retry-After").flatMap(Double.init))
        } catch {
            recorder.answered(kind: kind, status: 0, latency: ContinuousClock.now - sent)
            return nil
        }
    }

    /// The campaign's accounting after the run, read through the API.
    func campaignFigures(token: String) async -> [String: Int64]? {
        var request = HTTPClientRequest(url: baseURL + "/v1/campaigns/\(campaign)")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        guard let response = try? await client.execute(request, timeout: .seconds(10)), response.status == .ok,
            let bytes = try? await response.body.collect(upTo: 1 << 20),
            let json = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any]
        else { return nil }
        var figures: [String: Int64] = [:]
        for key in ["budget_fen", "remaining_fen", "outstanding_fen", "spent_fen", "cards_issued"] {
            if let value = json[key] as? Int64 { figures[key] = value } else if let value = json[key] as? Int {
                figures[key] = Int64(value)
            }
        }
        return figures
    }
}

/// How a simulated user's run ended.
enum UserOutcome: String, CaseIterable, Sendable {
    case card, refused, failed, unfinished
}

/// Everything the rush measured; shared by all users behind one lock.
final class RushRecorder: Sendable {
    private struct State {
        var latency: [String: Histogram<UInt64>] = [:]
        var statuses: [String: [Int: Int]] = [:]
        var outcomes: [UserOutcome: Int] = [:]
        var arrived = 0
        var queuedUsers = 0
        var queueTimes = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        var admissions: [(user: Int, at: Double)] = []
    }

    private let state = Mutex(State())

    func arrived() { state.withLock { $0.arrived += 1 } }
    func queued(user: Int) { state.withLock { $0.queuedUsers += 1 } }
    func finished(_ outcome: UserOutcome) { state.withLock { $0.outcomes[outcome, default: 0] += 1 } }

    func admitted(user: Int, after wait: Duration?, at: Duration) {
        state.withLock { state in
            if let wait { _ = state.queueTimes.record(UInt64(max(0, wait.secondsValue * 1_000))) }
            state.admissions.append((user, at.secondsValue))
        }
    }

    func answered(kind: String, status: Int, latency: Duration) {
        state.withLock { state in
            _ = state.latency[kind, default: Histogram<UInt64>(numberOfSignificantValueDigits: .three)]
                .record(UInt64(max(1, latency.secondsValue * 1_000_000)))
            state.statuses[kind, default: [:]][status, default: 0] += 1
        }
    }

    func report(users: Int, profile: ArrivalProfile, duration: Double, elapsed: Double, ledger: [String: Int64]?)
        -> RushReport
    {
        state.withLock { state in
            let served = (state.outcomes[.card] ?? 0) + (state.outcomes[.refused] ?? 0)
            var kinds: [String: RushReport.Kind] = [:]
            for (kind, histogram) in state.latency {
                kinds[kind] = RushReport.Kind(
                    requests: Int(histogram.totalCount),
                    statuses: Dictionary(uniqueKeysWithValues: state.statuses[kind, default: [:]].map { ("\($0.key)", $0.value) }),
                    p50Ms: Double(histogram.valueAtPercentile(50)) / 1_000,
                    p99Ms: Double(histogram.valueAtPercentile(99)) / 1_000,
                    p999Ms: Double(histogram.valueAtPercentile(99.9)) / 1_000,
                    maxMs: Double(histogram.max) / 1_000)
            }
            let fairness: Double? =
                state.admissions.count > 1
                ? rankCorrelation(state.admissions.map { Double($0.user) }, state.admissions.map(\.at)) : nil
            var invariants: Bool?
            if let ledger, let budget = ledger["budget_fen"], let remaining = ledger["remaining_fen"],
                let outstanding = ledger["outstanding_fen"], let spent = ledger["spent_fen"]
            {
                invariants = remaining + outstanding + spent == budget && remaining >= 0
                    && (ledger["cards_issued"] ?? 0) >= Int64(state.outcomes[.card] ?? 0)
            }
            let serverErrors = state.statuses.values.reduce(0) { total, statuses in
                total + statuses.filter { $0.key >= 500 }.reduce(0) { $0 + $1.value }
            }
            let timeouts = state.statuses.values.reduce(0) { $0 + ($1[0] ?? 0) }
            return RushReport(
                users: users, arrival: profile.rawValue, arrivalSeconds: duration, elapsedSeconds: elapsed,
                offeredPerSecond: Double(users) / duration, servedPerSecond: Double(served) / elapsed,
                goodputPerSecond: Double(state.outcomes[.card] ?? 0) / elapsed,
                outcomes: Dictionary(uniqueKeysWithValues: UserOutcome.allCases.map { ($0.rawValue, state.outcomes[$0] ?? 0) }),
                serverErrors: serverErrors, timeouts: timeouts, queuedUsers: state.queuedUsers,
                queueTimeP50S: Double(state.queueTimes.valueAtPercentile(50)) / 1_000,
                queueTimeP99S: Double(state.queueTimes.valueAtPercentile(99)) / 1_000,
                queueTimeMaxS: Double(state.queueTimes.max) / 1_000,
                fifoRankCorrelation: fairness, requests: kinds, ledger: ledger, ledgerInvariantsHold: invariants)
        }
    }
}

/// What `lantern rush` prints.
struct RushReport: Encodable {
    struct Kind: Encodable {
        var requests: Int
        var statuses: [String: Int]
        var p50Ms: Double
        var p99Ms: Double
        var p999Ms: Double
        var maxMs: Double
    }

    var users: Int
    var arrival: String
    var arrivalSeconds: Double
    var elapsedSeconds: Double
    var offeredPerSecond: Double
    var servedPerSecond: Double
    var goodputPerSecond: Double
    var outcomes: [String: Int]
    var serverErrors: Int
    var timeouts: Int
    var queuedUsers: Int
    var queueTimeP50S: Double
    var queueTimeP99S: Double
    var queueTimeMaxS: Double
    var fifoRankCorrelation: Double?
    var requests: [String: Kind]
    var ledger: [String: Int64]?
    var ledgerInvariantsHold: Bool?

    var table: String {
        var lines: [String] = []
        lines.append(
            "rush: \(users) users, \(arrival) arrival over \(fmt(arrivalSeconds)) s, finished in \(fmt(elapsedSeconds)) s")
        lines.append(
            "offered \(fmt(offeredPerSecond))/s  served \(fmt(servedPerSecond))/s  goodput (cards) \(fmt(goodputPerSecond))/s")
        lines.append(
            "outcomes: " + outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        lines.append("5xx answers: \(serverErrors)   timeouts/connection errors: \(timeouts)")
        lines.append(
            "queued users: \(queuedUsers)   time in queue p50 \(fmt(queueTimeP50S)) s, p99 \(fmt(queueTimeP99S)) s, max \(fmt(queueTimeMaxS)) s"
        )
        lines.append("FIFO rank correlation (arrival vs admission): " + (fifoRankCorrelation.map { String(format: "%.4f", $0) } ?? "n/a"))
        lines.append("request              count     p50 ms    p99 ms  p99.9 ms   statuses")
        for (kind, figures) in requests.sorted(by: { $0.key < $1.key }) {
            let statuses = figures.statuses.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " ")
            lines.append(
                kind.padding(toLength: 18, withPad: " ", startingAt: 0)
                    + String(format: "%8d %10.2f %9.2f %9.2f   ", figures.requests, figures.p50Ms, figures.p99Ms, figures.p999Ms)
                    + statuses)
        }
        if let ledger {
            lines.append("ledger: " + ledger.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        lines.append("ledger invariants: " + (ledgerInvariantsHold.map { $0 ? "hold" : "BROKEN" } ?? "not checked"))
        return lines.joined(separator: "\n")
    }

    private func fmt(_ value: Double) -> String { String(format: "%.1f", value) }
}

import ArgumentParser
import AsyncHTTPClient
import Foundation
import Histogram
import LanternApp
import LanternAssistant
import LanternCatalog
import LanternLab
import LanternLedger
import LanternOrders
import LanternServer
import LanternStorage
import Logging
import NIOCore
import PostgresNIO
import Synchronization

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure durable claims/s on SQLite and PostgreSQL against naive baselines, the waiting room, the geo index and the parser.",
        discussion: "Build in release mode: swift run -c release lantern bench [--postgres URL].")

    @Option(name: .long, help: "Claims per in-process run.") var claims = 400_000
    @Option(name: .long, help: "Claims in flight at once (simulated concurrent requests).") var concurrency = 1_024
    @Option(name: .long, help: "Times the SQLite claims run is repeated, each on a fresh file; the median is reported.")
    var runs = 5
    @Option(name: .long, help: "PostgreSQL server URL; a scratch database is created on it and dropped after.")
    var postgres: String?
    @Option(name: .long, help: "Seconds each naive PostgreSQL baseline runs.") var baselineSeconds = 5
    @Option(name: .long, help: "Connections the naive PostgreSQL baselines use.") var baselineClients = 64
    @Option(name: .long, help: "Stores in the geo index benchmark.") var geoStores = 3_000_000
    @Option(name: .long, help: "Sentences the offline parser benchmark parses.") var sentences = 500_000
    @Option(
        name: .long, parsing: .upToNextOption,
        help: "Run only these parts: sqlite, waiting-room, geo, parser, assistant, dispatch, spike, report, postgres (default: all).")
    var only: [String] = []

    @Option(name: .long, help: "Assistant turns the assistant benchmark sends, one at a time.") var turns = 3_000
    @Option(name: .long, help: "Orders in the simulated dispatch day.") var dayOrders = 1_200
    @Option(name: .long, help: "Riders in the simulated dispatch day.") var dayRiders = 250
    @Option(name: .long, help: "Riders around the district in the spike simulation.") var spikeRiders = 1_000
    @Option(name: .long, help: "Loopback port for the assistant benchmark's server.") var assistantPort = 18_181
    @Option(name: .long, help: "Recorded events the campaign report benchmark reports over (on SQLite, and on PostgreSQL with --postgres).")
    var reportEvents = 10_000_000

    private func wants(_ part: String) -> Bool { only.isEmpty || only.contains(part) }

    /// The report benchmark's rows: the whole journal loaded (the baseline) and the report.
    private func printReport(_ figures: ReportBenchmark.Figures, on store: String) {
        print(row("report on \(store): \(figures.written) events recorded (\(figures.cardsIssued) cards), written in", figures.writeSeconds, "s", decimals: 1))
        print(row("  baseline: loading the whole journal into memory", figures.readSeconds, "s", decimals: 2))
        print(row("  the report, read from the store, one experiment (goal < 10 s at 10M)", figures.reportSeconds, "s", decimals: 2))
    }

    func run() async throws {
        var logger = Logger(label: "lantern.bench")
        logger.logLevel = .error
        print("lantern bench: \(claims) claims, \(concurrency) in flight, \(ProcessInfo.processInfo.activeProcessorCount) cores")

        if wants("sqlite") {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lantern-bench-\(getpid())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            var rates: [Double] = []
            for run in 1...max(runs, 1) {
                let path = directory.appendingPathComponent("bench-\(run).sqlite").path
                rates.append(try await measureEngine(try openStore(.sqlite(path: path), logger: logger), logger: logger))
            }
            let sorted = rates.sorted()
            print(row("SQLite, durable group commit (WAL, synchronous=FULL), median", sorted[sorted.count / 2], "claims/s"))
            print("  each run on a fresh file: " + rates.map { String(format: "%.0f", $0) }.joined(separator: ", "))
        }
        if wants("waiting-room") {
            let (ticketRate, growth) = try measureWaitingRoom(tickets: 1_000_000)
            print(row("waiting room: 1,000,000 queue tickets issued", ticketRate, "tickets/s"))
            print(row("  resident memory growth while issuing them", growth / 1_048_576, "MiB"))
        }
        if wants("geo") {
            let geo = measureGeoIndex(stores: geoStores)
            print(row("geo index: build over \(geoStores) stores", geo.buildSeconds * 1_000, "ms"))
            print(row("  nearest-10 query p50", geo.p50Micros, "µs", decimals: 1))
            print(row("  nearest-10 query p99", geo.p99Micros, "µs", decimals: 1))
            print(row("  memory held by the index", geo.indexBytes / 1_048_576, "MiB"))
        }
        if wants("parser") {
            let rate = measureParser(sentences: sentences)
            print(row("offline parser: sentences parsed and written as JSON", rate, "sentences/s"))
        }
        if wants("assistant") {
            let turns = try await measureAssistant(turns: turns, port: assistantPort)
            print(row("assistant turns, offline engine, one at a time: server p50", turns.serverP50, "ms", decimals: 2))
            print(row("  server p99 (Server-Timing)", turns.serverP99, "ms", decimals: 2))
            print(row("  client p99 over loopback HTTP", turns.clientP99, "ms", decimals: 2))
        }
        if wants("dispatch") { measureDispatch() }
        if wants("spike") { measureSpike() }
        if wants("report") {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lantern-bench-report-\(getpid())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let opened = try openStore(.sqlite(path: directory.appendingPathComponent("report.sqlite").path), logger: logger)
            let store = opened.store
            let figures = try await ReportBenchmark(events: reportEvents, logger: logger).run(opened) { try await store.append($0) }
            printReport(figures, on: "SQLite")
            if let postgres {
                let scratch = try await PostgresScratchDatabase.create(serverURL: postgres, prefix: "lantern_bench_report", logger: logger)
                do {
                    let opened = try openStore(.postgres(url: scratch.url), logger: logger)
                    guard let shared = opened.store as? PostgresLedgerStore else { throw ReportBenchError(message: "not PostgreSQL") }
                    let figures = try await ReportBenchmark(events: reportEvents, logger: logger).run(opened) { [logger] batch in
                        try await ReportBenchmark.insert(batch, into: shared, logger: logger)
                    }
                    printReport(figures, on: "PostgreSQL")
                } catch {
                    try? await scratch.drop()
                    throw error
                }
                try await scratch.drop()
            }
        }
        print(row("peak resident memory of this process so far", peakResidentBytes() / 1_048_576, "MiB"))

        guard wants("postgres") else { return }
        guard let postgres else {
            print("(PostgreSQL figures skipped: pass --postgres URL)")
            return
        }
        let scratch = try await PostgresScratchDatabase.create(serverURL: postgres, prefix: "lantern_bench", logger: logger)
        do {
            let pgRate = try await measureEngine(try openStore(.postgres(url: scratch.url), logger: logger), logger: logger)
            print(row("PostgreSQL, durable group commit (unnest batches)", pgRate, "claims/s"))
            let single = try await naiveBaseline(url: scratch.url, slots: 1, logger: logger)
            print(row("PostgreSQL naive: one transaction per claim, one budget row", single, "claims/s"))
            let split = try await naiveBaseline(url: scratch.url, slots: 64, logger: logger)
            print(row("PostgreSQL naive: one transaction per claim, budget over 64 rows", split, "claims/s"))
            print(String(format: "ratio Lantern/PostgreSQL vs naive single row: %.1fx", pgRate / single))
            print(String(format: "ratio Lantern/PostgreSQL vs naive 64 rows:    %.1fx", pgRate / split))
        } catch {
            try? await scratch.drop()
            throw error
        }
        try await scratch.drop()
    }

    private func row(_ label: String, _ value: Double, _ unit: String, decimals: Int = 0) -> String {
        label.padding(toLength: 66, withPad: " ", startingAt: 0) + String(format: "%12.\(decimals)f %@", value, unit)
    }

    /// Runs `claims` claims for distinct users through a real engine over `opened`; claims/s.
    private func measureEngine(_ opened: OpenedStore, logger: Logger) async throws -> Double {
        let total = claims
        let concurrency = concurrency
        return try await opened.withEngine(logger: logger) { engine in
            let campaign = Campaign(
                id: "bench", name: "bench", budgetFen: Int64(total) * 2_500, cardValueFen: 2_500,
                maxCardsPerUser: 1, startsAt: Date().addingTimeInterval(-60),
                endsAt: Date().addingTimeInterval(3_600), cardsExpireAt: Date().addingTimeInterval(7_200))
            _ = try await engine.createCampaign(campaign).get()
            let next = SharedCounter()
            let start = ContinuousClock.now
            try await withThrowingDiscardingTaskGroup { workers in
                for _ in 0..<concurrency {
                    workers.addTask {
                        while true {
                            let index = next.takeNext()
                            guard index < total else { return }
                            let request = ClaimRequest(
                                campaign: "bench", user: "u\(index)", referralCode: nil,
                                claimKey: ClaimKey(key: "k\(index)", digest: BodyDigest(high: 1, low: 2)))
                            let (outcome, _) = try await engine.claim(request)
                            guard case .issued = outcome else { throw ValidationError("claim refused: \(outcome)") }
                        }
                    }
                }
            }
            let elapsed = ContinuousClock.now - start
            // A node sharing PostgreSQL counts every node's cards as the database last said.
            try await engine.refreshCampaigns()
            let issued = try engine.read { $0.account("bench")!.cardsIssued }
            guard issued == total else { throw ValidationError("issued \(issued) of \(total)") }
            return Double(total) / elapsed.secondsValue
        }
    }

    /// Issues `tickets` waiting-room tickets to distinct users of a campaign held at one admission
    /// a minute; returns tickets/s and the growth of resident memory in bytes.
    private func measureWaitingRoom(tickets: Int) throws -> (Double, Double) {
        let admission = AdmissionControl(AdmissionConfiguration(ticketSecret: "bench-ticket-secret"))
        let campaign = Campaign(
            id: "queue-bench", name: "queue bench", budgetFen: 1_000_000, cardValueFen: 100, maxCardsPerUser: 1,
            startsAt: Date().addingTimeInterval(-60), endsAt: Date().addingTimeInterval(3_600),
            cardsExpireAt: Date().addingTimeInterval(7_200))
        admission.setFixedRate(1.0 / 60, campaign: campaign.id)
        let before = residentBytes()
        let start = ContinuousClock.now
        for index in 0..<tickets {
            guard case .queued = try admission.admit(campaign: campaign, user: "q\(index)", ticketText: nil) else {
                throw ValidationError("ticket \(index) was admitted at once")
            }
        }
        let elapsed = ContinuousClock.now - start
        return (Double(tickets) / elapsed.secondsValue, Double(residentBytes() - before))
    }

    /// Builds a geo index over `stores` points shaped like a city (dense centre, sparse suburbs)
    /// and times 100,000 nearest-10 queries from random places in it.
    private func measureGeoIndex(stores: Int) -> (
        buildSeconds: Double, p50Micros: Double, p99Micros: Double, indexBytes: Double
    ) {
        var random = SystemRandomNumberGenerator()
        let points = (0..<stores).map { index -> GeoPoint in
            let spread = index % 4 == 0 ? 0.3 : 0.05
            return GeoPoint(
                lat: 31.2304 + Double.random(in: -spread...spread, using: &random),
                lng: 121.4737 + Double.random(in: -spread...spread, using: &random))
        }
        let start = ContinuousClock.now
        let index = GeoIndex(points: points)
        let build = (ContinuousClock.now - start).secondsValue
        var histogram = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        var checksum = 0
        for query in 0..<100_000 {
            let spread = query % 4 == 0 ? 0.3 : 0.05
            let at = GeoPoint(
                lat: 31.2304 + Double.random(in: -spread...spread, using: &random),
                lng: 121.4737 + Double.random(in: -spread...spread, using: &random))
            let asked = ContinuousClock.now
            checksum &+= index.nearest(to: at, k: 10).first?.id ?? 0
            _ = histogram.record(UInt64((ContinuousClock.now - asked).secondsValue * 1e9))
        }
        precondition(checksum != -1)
        return (
            build, Double(histogram.valueAtPercentile(50)) / 1_000, Double(histogram.valueAtPercentile(99)) / 1_000,
            Double(index.memoryBytes)
        )
    }

    /// This process's peak resident memory (VmHWM), from /proc.
    /// Parses a mix of Chinese, English and mixed sentences `count` times in all, writing each as
    /// JSON as `lantern parse` does; sentences/s.
    private func measureParser(sentences count: Int) -> Double {
        let corpus = [
            "帮我点两杯大杯珍珠奶茶，少糖去冰", "来一杯热的港式奶茶 不要糖", "杨枝甘露大杯 + 柠檬水两杯去冰",
            "生椰拿铁 少冰 三分糖", "一杯珍珠奶茶一杯芋泥奶茶，两杯都少糖", "两杯红豆奶茶，一杯去冰一杯少冰",
            "a medium taro milk tea with pudding, half sugar, less ice", "2x brown sugar boba milk, regular ice",
            "get me a large taro milk tea, less ice", "a jasmine green tea and a lemon black tea, both no ice",
            "one oolog milk tea, half sugar", "one jasmine milk green tea with extra pearls and coconut jelly, 常温",
            "两杯 pearl milk tea，少糖", "a 乌龙奶茶 and a 茉莉奶绿, both 少糖", "帮我点杯奶茶", "第二个，少糖",
        ]
        var bytes = 0
        let started = ContinuousClock.now
        for index in 0..<count {
            bytes &+= OrderParser.json(OrderParser.parse(corpus[index % corpus.count])).utf8.count
        }
        let elapsed = ContinuousClock.now - started
        precondition(bytes > 0)
        return Double(count) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// Runs a server on a scratch SQLite store and holds conversations with it, one turn at a
    /// time: a full order sentence (quote), "帮我点杯奶茶" (three choices), "第二个，少糖", an
    /// address (quote), and "确认" (places the order). Returns server p50/p99 from each
    /// response's Server-Timing and the client's p99, in milliseconds.
    private func measureAssistant(turns: Int, port: Int) async throws -> (serverP50: Double, serverP99: Double, clientP99: Double) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lantern-bench-assistant-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = "bench-secret-0123456789abcdef0123456789"
        let configuration = ServerConfiguration(
            port: port, jwtSecret: secret, database: .sqlite(path: directory.appendingPathComponent("a.sqlite").path),
            logLevel: .error, admissionEnabled: false)
        let app = try await buildApplication(configuration)
        let running = Task { try await app.runService() }
        defer { running.cancel() }
        let tokens = try await TokenAuthority(secret: secret)
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { _ = client.shutdown() }
        let base = "http://127.0.0.1:\(port)"
        for _ in 0..<100 {
            if (try? await client.execute(HTTPClientRequest(url: base + "/readyz"), timeout: .seconds(1)))?.status == .ok { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let script = [
            "get me a large taro milk tea, less ice, deliver to 5 Park Road", "帮我点杯奶茶", "第二个，少糖", "送到人民广场1号", "确认",
        ]
        var serverSide = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        var clientSide = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        var session: String?
        var token = ""
        for turn in 0..<turns {
            let step = turn % script.count
            if step == 0 {
                session = nil
                token = try await tokens.mint(Identity(userID: "bench\(turn / script.count)", role: .user))
            }
            var body = #"{"text":"\#(script[step])","location":{"lat":31.2304,"lng":121.4737}"#
            if let session { body += #","session_id":"\#(session)""# }
            var request = HTTPClientRequest(url: base + "/v1/assistant/messages")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body + "}"))
            let sent = ContinuousClock.now
            let response = try await client.execute(request, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            _ = clientSide.record(UInt64((ContinuousClock.now - sent).secondsValue * 1e6))
            guard response.status == .ok, let timing = response.headers.first(name: "Server-Timing"),
                let milliseconds = Double(timing.split(separator: "=").last ?? "")
            else { throw ValidationError("assistant turn failed: \(response.status) \(String(buffer: bytes))") }
            _ = serverSide.record(UInt64(milliseconds * 1_000))
            session = (try? JSONValue.parse(String(buffer: bytes)))?["session_id"]?.string
        }
        return (
            Double(serverSide.valueAtPercentile(50)) / 1_000, Double(serverSide.valueAtPercentile(99)) / 1_000,
            Double(clientSide.valueAtPercentile(99)) / 1_000
        )
    }

    /// Times one dispatch round over 10,000 open orders and 5,000 riders, then runs the same
    /// simulated rush under Lantern's dispatch and the nearest-idle-rider baseline.
    private func measureDispatch() {
        let stores = DemoCity.stores(count: 3_000, seed: 5)
        let big = DispatchSimulation.syntheticDay(stores: stores, orderCount: 10_000, riderCount: 5_000, hours: 0.1, seed: 9)
        for policy in DispatchPolicy.allCases {
            var orders = big.orders
            var riders = big.riders
            var open = Array(orders.indices)
            let now = (big.placedAtMs.last ?? 0) + 15 * 60_000
            let started = ContinuousClock.now
            let assigned = Dispatch.round(policy, orders: &orders, open: &open, riders: &riders, nowMs: now)
            let elapsed = (ContinuousClock.now - started).secondsValue
            print(row("dispatch round, \(policy.rawValue), 10k orders, 5k riders: \(assigned) assigned", elapsed * 1_000, "ms"))
        }
        let day = DispatchSimulation.syntheticDay(
            stores: DemoCity.stores(count: 300, seed: 2026), orderCount: dayOrders, riderCount: dayRiders, hours: 3, seed: 42)
        print("simulated rush: \(dayOrders) orders over 3 hours, \(dayRiders) riders, rounds every 20 s")
        var outcomes: [DispatchPolicy: DispatchSimulation.Outcome] = [:]
        for policy in DispatchPolicy.allCases {
            let outcome = day.run(policy)
            outcomes[policy] = outcome
            print(
                "  \(policy.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) delivered \(outcome.delivered), lateness mean "
                    + String(format: "%.2f min, p95 %.2f min; %.2f km/order; counter wait %.2f min", outcome.meanLatenessMinutes,
                        outcome.p95LatenessMinutes, outcome.kilometresPerOrder, outcome.meanCounterWaitMinutes))
        }
        if let planned = outcomes[.planned], let baseline = outcomes[.nearestIdle] {
            print(
                String(
                    format: "  planned / nearest-idle: mean lateness %.2f, p95 lateness %.2f, km per order %.2f",
                    planned.meanLatenessMinutes / max(baseline.meanLatenessMinutes, 1e-9),
                    planned.p95LatenessMinutes / max(baseline.p95LatenessMinutes, 1e-9),
                    planned.kilometresPerOrder / max(baseline.kilometresPerOrder, 1e-9)))
        }
    }

    /// A campaign-sized spike on one district of the default 300-store demo city.
    private func measureSpike() {
        let stores = DemoCity.stores(count: 300, seed: 2026)
        let district = GeoPoint(lat: DemoCity.centre.lat + 0.01, lng: DemoCity.centre.lng + 0.01)
        let spike = DistrictSpike(
            stores: stores, district: district, radiusMeters: 1_000, peakPerMinute: 80, minutes: 30, riders: spikeRiders, seed: 7)
        let started = ContinuousClock.now
        let outcome = spike.run()
        let stores1km = stores.filter { $0.location.distance(to: district) <= 1_000 }.count
        print("district spike: 1 km around (\(district.lat), \(district.lng)), \(stores1km) stores inside, 8 orders/min for 10 min then 80/min for 30 min, \(spikeRiders) riders")
        print("  \(outcome.arrived) orders arrived, \(outcome.placed) placed, \(outcome.toldToWait) told every store in reach was full (with the wait)")
        print(String(format: "  most work any store had waiting: %.1f min (limit 30)", outcome.maxBacklogMinutes))
        print("  stores that took orders: \(outcome.storesInDistrict) inside the district, \(outcome.storesOutside) outside it")
        print(String(format: "  delivered %d; promised wait vs delivered: %.1f %% within 20 %%, mean error %.1f %%", outcome.delivered,
            outcome.withinTwentyPercent * 100, outcome.meanPromiseError * 100))
        print(row("  simulation time", (ContinuousClock.now - started).secondsValue * 1_000, "ms"))
    }

    private func peakResidentBytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes * 1_024
    }

    /// This process's resident memory, from /proc.
    private func residentBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
            let pages = Int(statm.split(separator: " ")[1])
        else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// What users build without Lantern: one transaction per claim, `UPDATE … WHERE remaining >= v`
    /// on a budget row (or one of `slots` rows), then an insert; claims/s over `baselineSeconds`.
    private func naiveBaseline(url: String, slots: Int, logger: Logger) async throws -> Double {
        var configuration = try PostgresLedgerStore.configuration(url: url)
        configuration.options.maximumConnections = baselineClients
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Double?.self) { tasks in
            tasks.addTask {
                await client.run()
                return nil
            }
            tasks.addTask {
                try await client.query("DROP TABLE IF EXISTS naive_cards, naive_budget")
                try await client.query("CREATE TABLE naive_budget (slot integer PRIMARY KEY, remaining_fen bigint NOT NULL)")
                try await client.query(
                    "CREATE TABLE naive_cards (campaign text, owner text, value_fen bigint, PRIMARY KEY (campaign, owner))")
                let perSlot = Int64.max / 4 / Int64(slots)
                try await client.query(
                    "INSERT INTO naive_budget SELECT s, \(perSlot) FROM generate_series(0, \(Int32(slots - 1))) s")
                let next = SharedCounter()
                let deadline = ContinuousClock.now + .seconds(baselineSeconds)
                let start = ContinuousClock.now
                try await withThrowingDiscardingTaskGroup { workers in
                    for _ in 0..<baselineClients {
                        workers.addTask {
                            while ContinuousClock.now < deadline {
                                let index = next.takeNext()
                                let owner = "u\(index)"
                                let slot = Int32(index % slots)
                                try await client.withTransaction(logger: logger) { connection in
                                    let rows = try await connection.query(
                                        """
                                        UPDATE naive_budget SET remaining_fen = remaining_fen - 2500
                                        WHERE slot = \(slot) AND remaining_fen >= 2500 RETURNING slot
                                        """, logger: logger)
                                    var updated = 0
                                    for try await _ in rows { updated += 1 }
                                    guard updated == 1 else { throw ValidationError("budget exhausted") }
                                    try await connection.query(
                                        "INSERT INTO naive_cards VALUES ('bench', \(owner), 2500)", logger: logger)
                                }
                            }
                        }
                    }
                }
                let elapsed = ContinuousClock.now - start
                let done = try await client.query("SELECT count(*)::int8 FROM naive_cards")
                var count: Int64 = 0
                for try await value in done.decode(Int64.self) { count = value }
                return Double(count) / elapsed.secondsValue
            }
            var rate = 0.0
            for try await result in tasks {
                if let result {
                    rate = result
                    tasks.cancelAll()
                }
            }
            return rate
        }
    }
}

/// A counter shared by benchmark workers; each takes the next number.
final class SharedCounter: Sendable {
    private let value = Atomic<Int>(0)

    /// Returns the next number, starting at 0.
    func takeNext() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}

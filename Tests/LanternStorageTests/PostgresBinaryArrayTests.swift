import LanternLab
import Logging
import NIOCore
import PostgresNIO
import Testing

@testable import LanternStorage

/// The report's own reader of array columns, held to PostgresNIO's decoding of the same columns
/// as a real server sends them.
@Suite struct PostgresBinaryArrayTests {
    /// Runs `body` with a client on a scratch database of the test server.
    func withClient(_ body: @escaping @Sendable (PostgresClient) async throws -> Void) async throws {
        try await withScratchPostgres { url in
            let client = PostgresClient(configuration: try PostgresLedgerStore.configuration(url: url), backgroundLogger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await client.run() }
                defer { tasks.cancelAll() }
                try await body(client)
            }
        }
    }

    @Test(.enabled(if: postgresServerURL != nil, "needs LANTERN_TEST_POSTGRES_URL (scripts/test starts a server)"))
    func readsWhatPostgresNIOReads() async throws {
        try await withClient { client in
            let columns = """
                ARRAY[0, 1, -1, 9223372036854775807, -9223372036854775808, 1769900000000]::int8[],
                ARRAY[0, 7, -2147483648, 2147483647]::int4[],
                ARRAY[0, 1, -32768, 32767]::int2[],
                ARRAY['', 'u1', '珍珠奶茶', 'a,b "c"', repeat('x', 300)]::text[],
                ARRAY['\\x'::bytea, '\\x0001ff'::bytea, decode(repeat('ab', 500), 'hex')]::bytea[],
                '{}'::int8[], '{}'::text[]
                """
            let theirs = try await client.query(PostgresQuery(unsafeSQL: "SELECT \(columns)"), logger: logger)
            for try await row in theirs.decode(([Int64], [Int32], [Int16], [String], [ByteBuffer], [Int64], [String]).self) {
                let ours = try await client.query(PostgresQuery(unsafeSQL: "SELECT \(columns)"), logger: logger)
                for try await raw in ours.decode(
                    (ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer).self)
                {
                    #expect(try PostgresBinaryArray.int64s(raw.0) == row.0)
                    #expect(try PostgresBinaryArray.int32s(raw.1) == row.1)
                    #expect(try PostgresBinaryArray.int16s(raw.2) == row.2)
                    #expect(try PostgresBinaryArray.strings(raw.3) == row.3)
                    #expect(try PostgresBinaryArray.byteas(raw.4) { Array($0) } == row.4.map { Array($0.readableBytesView) })
                    #expect(try PostgresBinaryArray.int64s(raw.5) == row.5)
                    #expect(try PostgresBinaryArray.strings(raw.6) == row.6)
                }
            }
        }
    }

    @Test(.enabled(if: postgresServerURL != nil, "needs LANTERN_TEST_POSTGRES_URL (scripts/test starts a server)"))
    func refusesWhatItDoesNotRead() async throws {
        try await withClient { client in
            let rows = try await client.query(
                "SELECT ARRAY[1, NULL]::int8[], ARRAY[[1, 2], [3, 4]]::int8[], ARRAY[1, 2]::int4[], ARRAY[1]::int8[]",
                logger: logger)
            for try await (withNull, twoDimensional, int4s, one) in rows.decode((ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer).self) {
                #expect(throws: PostgresBinaryArray.Malformed.self) { try PostgresBinaryArray.int64s(withNull) }
                #expect(throws: PostgresBinaryArray.Malformed.self) { try PostgresBinaryArray.int64s(twoDimensional) }
                #expect(throws: PostgresBinaryArray.Malformed.self) { try PostgresBinaryArray.int64s(int4s) }
                var cut = one
                cut.moveWriterIndex(to: cut.writerIndex - 1)
                #expect(throws: PostgresBinaryArray.Malformed.self) { try PostgresBinaryArray.int64s(cut) }
                var longer = one
                longer.writeInteger(UInt8(0))
                #expect(throws: PostgresBinaryArray.Malformed.self) { try PostgresBinaryArray.int64s(longer) }
            }
        }
    }

    @Test(.enabled(if: postgresServerURL != nil, "needs LANTERN_TEST_POSTGRES_URL (scripts/test starts a server)"))
    func theReportsOrderPagesReadTheirIndex() async throws {
        try await withScratchPostgres { url in
            let store = try PostgresLedgerStore(url: url, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await store.client.run() }
                defer { tasks.cancelAll() }
                try await store.migrate()
                let page = PostgresLedgerStore.reportOrderPage(after: 0)
                let plan = try await store.client.withConnection { connection in
                    // An empty table is read whole; the question is which index the page can use.
                    try await connection.query("SET enable_seqscan = off", logger: logger)
                    var plan = ""
                    let rows = try await connection.query(PostgresQuery(unsafeSQL: "EXPLAIN " + page.sql, binds: page.binds), logger: logger)
                    for try await line in rows.decode(String.self) { plan += line + "\n" }
                    return plan
                }
                #expect(plan.contains("order_events_read_by_report"), "\(plan)")
            }
        }
    }
}

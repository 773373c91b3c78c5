import LanternLab
import Logging
import NIOCore
import PostgresNIO
import Testing

@testable import LanternStorage

/// The report's own reader of array columns, held to PostgresNIO's decoding of the same columns
/// as a real server sends them.
@Suite(.enabled(if: postgresServerURL != nil, "needs LANTERN_TEST_POSTGRES_URL (scripts/test starts a server)"))
struct PostgresBinaryArrayTests {
    /// Runs `body` with a migrated store on a scratch database of the test server.
    func withStore(_ body: @escaping @Sendable (PostgresLedgerStore) async throws -> Void) async throws {
        try await withScratchPostgres { url in
            let opened = try openStore(.postgres(url: url), logger: logger)
            let store = try #require(opened.store as? PostgresLedgerStore)
            try await opened.whileRunning(logger: logger) { try await body(store) }
        }
    }

    /// What PostgresNIO decodes from the same column.
    func theirs<Value: PostgresDecodable>(_ column: ByteBuffer, _ type: PostgresDataType, as: Value.Type) throws -> Value {
        var column = column
        return try Value(from: &column, type: type, format: .binary, context: .default)
    }

    /// A `text[]` column as strings, by the report's reader.
    func strings(_ column: ByteBuffer) throws -> [String] {
        try PostgresBinaryArray.texts(column) { String(decoding: $0, as: UTF8.self) }
    }

    @Test func readsWhatPostgresNIOReads() async throws {
        try await withStore { store in
            let rows = try await store.client.query(
                """
                SELECT ARRAY[0, 1, -1, 9223372036854775807, -9223372036854775808, 1769900000000]::int8[],
                    ARRAY[0, 7, -2147483648, 2147483647]::int4[],
                    ARRAY[0, 1, -32768, 32767]::int2[],
                    ARRAY['', 'u1', '珍珠奶茶', 'a,b "c"', repeat('x', 300)]::text[],
                    ARRAY['\\x'::bytea, '\\x0001ff'::bytea, decode(repeat('ab', 500), 'hex')]::bytea[],
                    '{}'::int8[], '{}'::text[]
                """, logger: logger)
            for try await raw in rows.decode((ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer).self) {
                #expect(try PostgresBinaryArray.int64s(raw.0) == theirs(raw.0, .int8Array, as: [Int64].self))
                #expect(try PostgresBinaryArray.int32s(raw.1) == theirs(raw.1, .int4Array, as: [Int32].self))
                #expect(try PostgresBinaryArray.int16s(raw.2) == theirs(raw.2, .int2Array, as: [Int16].self))
                #expect(try strings(raw.3) == theirs(raw.3, .textArray, as: [String].self))
                #expect(
                    try PostgresBinaryArray.byteas(raw.4) { Array($0) }
                        == theirs(raw.4, .byteaArray, as: [ByteBuffer].self).map { Array($0.readableBytesView) })
                #expect(try PostgresBinaryArray.int64s(raw.5) == theirs(raw.5, .int8Array, as: [Int64].self))
                #expect(try strings(raw.6) == theirs(raw.6, .textArray, as: [String].self))
                #expect(try strings(raw.3).count == 5, "the column is read, not empty on both sides")
            }
        }
    }

    @Test func refusesWhatItDoesNotRead() async throws {
        try await withStore { store in
            let rows = try await store.client.query(
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

    @Test func theReportsOrderPagesReadTheirIndex() async throws {
        try await withStore { store in
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

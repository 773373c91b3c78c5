import Testing

@testable import LanternLedger
@testable import LanternReports

/// The report's hand-written table of names, held to a dictionary's answers.
@Suite("Name table")
struct NameTableTests {
    /// Numbers each name of `names` (hashed by `hash`) in a table and in a dictionary, and
    /// expects the same numbers, the same misses and the same names back.
    func agree(_ names: [String], hash: (UnsafeRawBufferPointer) -> UInt64) async {
        var batch: [UInt8] = []
        let refs = names.map { name -> ReportName in
            let bytes = Array(name.utf8)
            defer { batch += bytes }
            return ReportName(hash: bytes.withUnsafeBytes(hash), start: Int32(batch.count), count: Int32(bytes.count))
        }
        var table = NameTable()
        var dictionary: [[UInt8]: Int32] = [:]
        for (index, (name, ref)) in zip(names, refs).enumerated() {
            // Other tests' servers share the cooperative pool's two threads: let them run.
            if index % 500 == 499 { await Task.yield() }
            let key = Array(name.utf8)
            batch.withUnsafeBytes { batch in
                #expect(table.find(ref, in: batch) == dictionary[key], "\(name) before it is numbered")
                let expected = dictionary[key] ?? Int32(dictionary.count)
                dictionary[key] = expected
                #expect(table.number(ref, in: batch) == expected, "\(name)")
                #expect(table.find(ref, in: batch) == expected)
            }
        }
        #expect(table.count == dictionary.count)
        for (key, number) in dictionary { #expect(Array(table.name(Int(number)).utf8) == key) }
    }

    static func names(count: Int, seed: UInt64) -> [String] {
        var state = seed
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let alphabet = Array("ab:-0用户") + ["珍"]
        return (0..<count).map { _ in
            String((0..<Int(next() % 24)).map { _ in alphabet[Int(next()) % alphabet.count] })
        }
    }

    @Test("Names are numbered as a dictionary numbers them, through many growths")
    func agreesWithADictionary() async {
        await agree(Self.names(count: 30_000, seed: 1), hash: ReportName.hash)
    }

    @Test("Names whose hashes collide, wholly or in the slot's tag, stay apart")
    func collisions() async {
        let names = Self.names(count: 1_500, seed: 2)
        await agree(names) { _ in 42 }
        await agree(names) { ReportName.hash($0) & 0xffff_ffff_0000_000f }
        await agree(names) { ReportName.hash($0) & 0x0000_0000_ffff_ffff }
    }

    @Test("Names are the same when their bytes are: canonically equal strings stay apart")
    func bytesDecide() async {
        // "é" as one scalar and as e + combining accent: equal as Swift strings, not as bytes.
        await agree(["\u{e9}", "e\u{301}", "\u{e9}", "", "", "e\u{301}"], hash: ReportName.hash)
    }
}

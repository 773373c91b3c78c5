import Testing

@testable import LanternLedger
@testable import LanternReports

/// The report's hand-written table of names, held to a dictionary's answers.
@Suite("Name table")
struct NameTableTests {
    /// Numbers each name of `names` (hashed by `hash`) in a table and in a dictionary, and
    /// expects the same numbers, the same misses and the same names back.
    func agree(_ names: [String], hash: (UnsafeRawBufferPointer) -> UInt64) {
        var batch: [UInt8] = []
        let refs = names.map { name -> ReportName in
            let start = Int32(batch.count)
            batch += Array(name.utf8)
            let bytes = Array(name.utf8)
            return ReportName(hash: bytes.withUnsafeBytes(hash), start: start, count: Int32(bytes.count))
        }
        var table = NameTable()
        var dictionary: [[UInt8]: Int32] = [:]
        batch.withUnsafeBytes { batch in
            for (name, ref) in zip(names, refs) {
                let key = Array(name.utf8)
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
    func agreesWithADictionary() {
        agree(Self.names(count: 60_000, seed: 1), hash: ReportName.hash)
    }

    @Test("Names whose hashes collide, wholly or in the slot's tag, stay apart")
    func collisions() {
        let names = Self.names(count: 3_000, seed: 2)
        agree(names) { _ in 42 }
        agree(names) { ReportName.hash($0) & 0xffff_ffff_0000_000f }
        agree(names) { ReportName.hash($0) & 0x0000_0000_ffff_ffff }
    }

    @Test("Names are the same when their bytes are: canonically equal strings stay apart")
    func bytesDecide() {
        // "é" as one scalar and as e + combining accent: equal as Swift strings, not as bytes.
        agree(["\u{e9}", "e\u{301}", "\u{e9}", "", "", "e\u{301}"], hash: ReportName.hash)
    }
}

import Foundation
import LanternLedger

/// Names numbered 0, 1, 2… as they first appear, found again by their hash and bytes: the
/// report's users, order ids, stores and drinks.
///
/// Hand-written rather than a `Dictionary<String, Int32>`: over two million users and a
/// million and a half orders, that dictionary's strings (one allocation each past fifteen
/// bytes), its hashing on the fold's thread and its probes that compare strings were most of
/// the reading's time. Here a name's bytes are copied once into one buffer, its hash comes
/// from the store's reader thread (`ReportName`), and a probe compares 32 bits of hash held in
/// the slot before it looks at any bytes. Two names are the same when their bytes are, as the
/// databases' text keys are compared; `NameTableTests` holds it to a dictionary's answers.
struct NameTable: Sendable {
    /// Every name's bytes, one after another.
    private var bytes: [UInt8] = []
    /// Where each name's bytes end in `bytes`, by number.
    private var ends: [Int] = []
    /// Each name's hash, by number, for growing the slots.
    private var hashes: [UInt64] = []
    /// Open addressing with linear probing: 0 is empty; otherwise the low 32 bits of the
    /// name's hash above its number + 1.
    private var slots = [UInt64](repeating: 0, count: 64)

    /// Names held.
    var count: Int { ends.count }

    /// The number of `name` (its bytes in `batch`), numbering it next if it is new.
    mutating func number(_ name: ReportName, in batch: UnsafeRawBufferPointer) -> Int32 {
        let (found, slot) = probe(name, in: batch)
        if let found { return found }
        precondition(count < Int(Int32.max), "a name table holds under 2^31 names")
        let number = Int32(count)
        bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: batch[name.range]))
        ends.append(bytes.count)
        hashes.append(name.hash)
        slots[slot] = Self.tag(name.hash) | UInt64(number + 1)
        if count * 2 > slots.count { grow() }
        return number
    }

    /// The number of `name` (its bytes in `batch`), or nil if it was never numbered.
    func find(_ name: ReportName, in batch: UnsafeRawBufferPointer) -> Int32? {
        probe(name, in: batch).found
    }

    /// The name numbered `number`.
    func name(_ number: Int) -> String {
        String(decoding: bytes[start(of: number)..<ends[number]], as: UTF8.self)
    }

    /// Every name, by number.
    var names: [String] { (0..<count).map(name) }

    private func start(of number: Int) -> Int { number == 0 ? 0 : ends[number - 1] }

    private static func tag(_ hash: UInt64) -> UInt64 { hash << 32 }

    /// The first slot to look in: the top bits of the hash times a large odd number, where a
    /// multiplication mixes best (the slot's tag holds the hash's low bits).
    private func home(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: (hash &* 0x9e37_79b9_7f4a_7c15) >> UInt64(64 - slots.count.trailingZeroBitCount))
    }

    /// The number of `name` if it is held, and the slot it is in or would go in.
    private func probe(_ name: ReportName, in batch: UnsafeRawBufferPointer) -> (found: Int32?, slot: Int) {
        let tag = Self.tag(name.hash)
        let mask = slots.count - 1
        var slot = home(name.hash)
        while true {
            let entry = slots[slot]
            if entry == 0 { return (nil, slot) }
            if entry & 0xffff_ffff_0000_0000 == tag {
                let number = Int(entry & 0xffff_ffff) - 1
                if hashes[number] == name.hash, isName(number, UnsafeRawBufferPointer(rebasing: batch[name.range])) {
                    return (Int32(number), slot)
                }
            }
            slot = (slot + 1) & mask
        }
    }

    private func isName(_ number: Int, _ candidate: UnsafeRawBufferPointer) -> Bool {
        let start = start(of: number)
        guard ends[number] - start == candidate.count else { return false }
        guard !candidate.isEmpty else { return true }
        return bytes.withUnsafeBytes { held in memcmp(held.baseAddress! + start, candidate.baseAddress!, candidate.count) == 0 }
    }

    /// Twice the slots, every name put back.
    private mutating func grow() {
        slots = [UInt64](repeating: 0, count: slots.count * 2)
        let mask = slots.count - 1
        for (number, hash) in hashes.enumerated() {
            var slot = home(hash)
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = Self.tag(hash) | UInt64(number + 1)
        }
    }
}

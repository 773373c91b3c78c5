import Crypto

/// Proof of work for joining a waiting room, for campaigns that are botted: a ticket is
/// honoured only with a nonce such that SHA-256 of `ticket:nonce` starts with `bits` zero bits.
///
/// A person's browser solves 16 bits in about a second; a script holding ten thousand places
/// pays that ten thousand times. Checking costs one hash.
public enum QueuePuzzle {
    /// The most bits an operator may ask for (about a minute of a browser's time at 22).
    public static let maxBits = 22

    /// Whether `nonce` solves the puzzle of `ticket` at `bits`.
    public static func isSolved(ticket: String, nonce: String, bits: Int) -> Bool {
        guard bits > 0 else { return true }
        guard !nonce.isEmpty, nonce.utf8.count <= 32 else { return false }
        return leadingZeroBits(SHA256.hash(data: Array("\(ticket):\(nonce)".utf8))) >= bits
    }

    /// A solution, found by counting up from zero; what `lantern rush` and tests use.
    public static func solve(ticket: String, bits: Int) -> String {
        var nonce: UInt64 = 0
        while !isSolved(ticket: ticket, nonce: String(nonce), bits: bits) { nonce += 1 }
        return String(nonce)
    }

    private static func leadingZeroBits(_ digest: SHA256.Digest) -> Int {
        var count = 0
        for byte in digest {
            guard byte == 0 else { return count + byte.leadingZeroBitCount }
            count += 8
        }
        return count
    }
}

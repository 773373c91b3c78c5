/// Token buckets per key (user id, client address) in a fixed amount of memory.
///
/// Buckets live in a set-associative table: a key hashes to a set of `ways` slots and takes the
/// slot idle longest when it has none. A flood of distinct keys only evicts idle buckets, and a
/// key that is hammering keeps its slot because it keeps touching it.
public struct HotKeyLimiter: Sendable {
    private struct Slot {
        var fingerprint: Int
        var tokens: Double
        var touchedAt: Double
    }

    /// Refill rate per key, tokens per second.
    public let ratePerSecond: Double
    /// Bucket size: requests a key may send at once after being idle.
    public let burst: Double
    private var slots: [Slot]
    private let setMask: Int
    private let ways = 4

    /// What the limiter says of one request.
    public enum Decision: Equatable, Sendable {
        /// Go ahead.
        case allowed
        /// Too many: try again after this many seconds.
        case limited(retryAfter: Double)
    }

    /// Creates a limiter with room for `capacity` keys (rounded up to a power of two).
    public init(ratePerSecond: Double, burst: Double, capacity: Int = 1 << 16) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        var sets = 1
        while sets * ways < capacity { sets <<= 1 }
        setMask = sets - 1
        slots = Array(repeating: Slot(fingerprint: 0, tokens: 0, touchedAt: -.infinity), count: sets * ways)
    }

    /// Number of keys it can track at once.
    public var capacity: Int { slots.count }

    /// Spends one token of `key`'s bucket at time `now` (seconds).
    public mutating func allow(_ key: String, now: Double) -> Decision {
        let fingerprint = key.hashValue | 1  // never 0, the empty slot's fingerprint
        let base = (fingerprint & setMask) * ways
        var chosen = base
        var found = false
        for index in base..<(base + ways) {
            if slots[index].fingerprint == fingerprint {
                chosen = index
                found = true
                break
            }
            if slots[index].touchedAt < slots[chosen].touchedAt { chosen = index }
        }
        if !found {
            slots[chosen] = Slot(fingerprint: fingerprint, tokens: burst, touchedAt: now)
        }
        let elapsed = max(0, now - slots[chosen].touchedAt)
        slots[chosen].tokens = min(burst, slots[chosen].tokens + elapsed * ratePerSecond)
        slots[chosen].touchedAt = now
        guard slots[chosen].tokens >= 1 else {
            return .limited(retryAfter: (1 - slots[chosen].tokens) / ratePerSecond)
        }
        slots[chosen].tokens -= 1
        return .allowed
    }
}

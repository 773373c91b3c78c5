/// Who in a waiting room is still there: when each place in line was last asked about, which
/// places the frontier passed over because their holder had gone, and how many are present
/// ahead of a place.
///
/// Four bytes per place from the frontier to the back of the line, one bit per place behind it.
/// Counting ahead of a place scans the line at most once a second into prefix sums over
/// blocks of 256 places; a place's count is then a sum lookup and a scan of one block.
/// Pure; times are seconds.
struct Presence: Sendable {
    /// A holder who has not asked within this many seconds has left.
    let window: Double
    /// The origin of the stored times.
    private let epoch: Double
    /// The rank `seen[0]` is for.
    private var base: UInt64 = 0
    /// When each place from `base` on was last asked about: seconds since `epoch`, rounded up,
    /// plus one; zero for a place not handed out yet.
    private var seen: [UInt32] = []
    /// One bit per rank from zero: passed over by the frontier for want of its holder.
    private var skipped: [UInt64] = []
    /// Prefix sums of present places per block, from `countedFrom`, as of `countedAt`.
    private var blockSums: [UInt64] = [0]
    /// The end of the line at the last count, and the present places after its last whole block.
    private var countedEnd: UInt64
    private var tailPresent: UInt64 = 0
    private var countedFrom: UInt64
    /// Present places from `countedFrom` up to the frontier, at the frontier's last move: what
    /// every position subtracts, worked out once per move rather than once per ticket.
    private var belowFrontier: (rank: UInt64, present: UInt64) = (0, 0)
    private var countedAt: Double
    private static let block: UInt64 = 256

    /// Starts keeping presence at `now`, with every place below `issued` from `frontier` on
    /// counted as just seen (after a restart nobody is taken for gone before they could ask).
    init(window: Double, now: Double, frontier: UInt64, issued: UInt64) {
        self.window = window
        epoch = now
        base = frontier
        seen = Array(repeating: 1, count: Int(issued > frontier ? issued - frontier : 0))
        countedFrom = frontier
        countedEnd = frontier
        countedAt = now
        recount(from: frontier, now: now)
    }

    private func stamp(_ time: Double) -> UInt32 {
        UInt32(clamping: Int64(max(0, time - epoch).rounded(.up)) + 1)
    }

    /// Records that the holder of `rank` asked at `time` (a place handed out counts as asked).
    mutating func saw(_ rank: UInt64, at time: Double) {
        guard rank >= base else { return }
        let index = Int(rank - base)
        if index >= seen.count { seen.append(contentsOf: repeatElement(0, count: index - seen.count + 1)) }
        seen[index] = max(seen[index], stamp(time))
    }

    /// Whether the holder of `rank` had asked within the window before `time`; false for a
    /// place not handed out.
    func isPresent(_ rank: UInt64, at time: Double) -> Bool {
        guard rank >= base, Int(rank - base) < seen.count else { return false }
        let last = seen[Int(rank - base)]
        return last != 0 && Double(last - 1) + epoch + window >= time
    }

    /// Marks `rank` passed over.
    mutating func skip(_ rank: UInt64) {
        let word = Int(rank / 64)
        if word >= skipped.count { skipped.append(contentsOf: repeatElement(0, count: word - skipped.count + 1)) }
        skipped[word] |= 1 << (rank % 64)
    }

    /// Whether the frontier passed over `rank`.
    func wasSkipped(_ rank: UInt64) -> Bool {
        let word = Int(rank / 64)
        return word < skipped.count && skipped[word] & (1 << (rank % 64)) != 0
    }

    /// Forgets when places below `frontier` were asked about, once that is a good share of
    /// what is kept (so that the copy is paid for by the places it frees).
    mutating func forget(below frontier: UInt64) {
        guard frontier > base else { return }
        let drop = Int(min(frontier - base, UInt64(seen.count)))
        guard drop >= 4_096, drop * 2 >= seen.count else { return }
        seen.removeFirst(drop)
        base += UInt64(drop)
        countedAt = -Double.infinity
    }

    /// At the campaign's start: the places handed out before it were kept by arrival; the
    /// pre-queue's order (`rank(of:)`) puts each under its rank.
    mutating func reorder(preQueue count: UInt64, rank: (UInt64) -> UInt64) {
        guard count > 0, base == 0 else { return }
        let kept = min(Int(count), seen.count)
        var reordered = seen
        for sequence in 0..<kept { reordered[Int(rank(UInt64(sequence)))] = seen[sequence] }
        seen = reordered
    }

    /// Counts the line again from `frontier` when the last count is a second old (or the
    /// places it started from are forgotten).
    mutating func refreshCounts(frontier: UInt64, now: Double) {
        if now - countedAt >= 1 || frontier < countedFrom { recount(from: frontier, now: now) }
        let start = max(frontier, countedFrom)
        if belowFrontier.rank != start { belowFrontier = (start, presentCounted(below: start)) }
    }

    /// Present holders with a rank from `frontier` up to, not including, `rank`, as of the
    /// last count.
    func presentAhead(of rank: UInt64, frontier: UInt64) -> UInt64 {
        let start = max(frontier, countedFrom)
        let end = max(start, min(rank, base + UInt64(seen.count)))
        let ahead = start == belowFrontier.rank ? belowFrontier.present : presentCounted(below: start)
        return presentCounted(below: end) - ahead
    }

    /// Present holders from `frontier` to the back of the line.
    func presentWaiting(frontier: UInt64) -> UInt64 {
        presentAhead(of: base + UInt64(seen.count), frontier: frontier)
    }

    /// Present holders from `countedFrom` up to `rank` at the last count: whole blocks from the
    /// sums, at most one block scanned, and every place handed out since the count (just seen).
    private func presentCounted(below rank: UInt64) -> UInt64 {
        if rank >= countedEnd { return blockSums[blockSums.count - 1] + tailPresent + (rank - countedEnd) }
        let blocks = Int((rank - countedFrom) / Self.block)
        let counted = countedFrom + UInt64(blocks) * Self.block
        return blockSums[blocks] + presentBetween(counted, rank, now: countedAt)
    }

    /// Counts the line from `frontier` into whole blocks as of `now`; a partial last block is
    /// left to be scanned.
    private mutating func recount(from frontier: UInt64, now: Double) {
        countedFrom = max(frontier, base)
        countedAt = now
        let end = base + UInt64(seen.count)
        blockSums = [0]
        var total: UInt64 = 0
        var rank = countedFrom
        while rank + Self.block <= end {
            total += presentBetween(rank, rank + Self.block, now: now)
            blockSums.append(total)
            rank += Self.block
        }
        countedEnd = max(end, rank)
        tailPresent = presentBetween(rank, end, now: now)
        belowFrontier = (countedFrom, 0)
    }

    private func presentBetween(_ from: UInt64, _ to: UInt64, now: Double) -> UInt64 {
        guard to > from else { return 0 }
        var count: UInt64 = 0
        for rank in from..<to where isPresent(rank, at: now) { count += 1 }
        return count
    }
}

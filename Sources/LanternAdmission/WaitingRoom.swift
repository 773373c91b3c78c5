/// What a waiting room must keep across a restart: a few counters, whatever the number waiting.
public struct WaitingRoomCounters: Codable, Sendable, Equatable {
    /// Tickets handed out so far: the next ticket's sequence number.
    public var issued: UInt64 = 0
    /// The admission frontier: every ticket ranked below it is admitted.
    public var admitted: Double = 0
    /// Tickets issued before the campaign started, fixed at the start; nil until then.
    public var preQueueSize: UInt64?
    /// Key of the random order the pre-queue is put in at the start.
    public var shuffleSeed: UInt64

    /// Counters for a room nobody has entered yet.
    public init(shuffleSeed: UInt64) {
        self.shuffleSeed = shuffleSeed
    }
}

/// A campaign's waiting room as the database shared by several nodes holds it.
public struct SharedRoomState: Sendable, Equatable {
    /// Sequence numbers reserved by every node so far.
    public var issued: UInt64
    /// The campaign-wide admission frontier.
    public var admitted: Double
    /// Tickets issued before the start, fixed by the first node to see the start.
    public var preQueueSize: UInt64?
    /// Key of the pre-queue's random order, the same on every node.
    public var shuffleSeed: UInt64
    /// Admissions per second over the whole campaign: the fixed rate, or the nodes' rates added up.
    public var rate: Double
    /// An operator's fixed rate per second, if set.
    public var fixedRate: Double?
    /// Sequence numbers reserved for this node's next arrivals.
    public var block: Range<UInt64>

    /// Creates the shared state.
    public init(
        issued: UInt64, admitted: Double, preQueueSize: UInt64?, shuffleSeed: UInt64, rate: Double, fixedRate: Double?,
        block: Range<UInt64>
    ) {
        self.issued = issued
        self.admitted = admitted
        self.preQueueSize = preQueueSize
        self.shuffleSeed = shuffleSeed
        self.rate = rate
        self.fixedRate = fixedRate
        self.block = block
    }
}

/// Where a ticket stands.
public enum QueueStatus: Sendable, Equatable {
    /// The campaign has not started; places are drawn at the start.
    case waitingForStart(startsInSeconds: Double)
    /// In line: `position` 1 is next, counting only holders still asking; `leftAhead` more
    /// ahead have stopped asking and will be passed over.
    case waiting(position: UInt64, estimatedWaitSeconds: Double, leftAhead: UInt64)
    /// Admitted: the ticket lets its holder claim for `validForSeconds` more.
    case admitted(validForSeconds: Double)
    /// Admitted too long ago: the admission lapsed.
    case lapsed
    /// The frontier reached the ticket while its holder had stopped asking; they may rejoin
    /// at the back.
    case skipped
}

/// A campaign's virtual waiting room: strict FIFO admission at a rate, held in counters.
///
/// Arrivals take consecutive sequence numbers; the admission frontier moves forward at the
/// admission rate (the operator's fixed rate, or the rate the server is measured to sustain),
/// and a ticket is admitted once the frontier passes its rank. Tickets issued before the
/// campaign starts form a pre-queue whose ranks are a keyed random permutation drawn at the
/// start, so arriving early or scripting faster buys nothing.
///
/// A room that keeps presence (one node's own room) passes over the places whose holders
/// have not asked within the presence window when the frontier reaches them: they cost no
/// admission, positions and estimates count only the people still there, and a holder who
/// comes back finds the ticket skipped and rejoins at the back. Pure; times are seconds.
public struct WaitingRoom: Sendable {
    /// The counters to persist.
    public private(set) var counters: WaitingRoomCounters
    /// When the campaign starts (seconds since 1970).
    public let startsAt: Double
    /// Operator-set admissions per second; nil means adaptive.
    public var fixedRate: Double?
    /// Admissions per second the server sustains, kept up to date by the server.
    public var adaptiveRate: Double
    /// How long an admission stays usable.
    public let admissionValidity: Double
    /// While true the frontier stands still: nobody is admitted and nobody loses their place.
    public var paused = false
    private var lastAdvance: Double
    private var checkpoints: [(time: Double, admitted: Double)] = []
    /// Shared by several nodes: sequence numbers come from blocks the database reserved for
    /// this node, and the frontier and the pre-queue from the database (`adopt`).
    public private(set) var isShared = false
    /// The block this node hands places out of, when shared.
    private var block: Range<UInt64> = 0..<0
    /// Places handed out since the last `adopt`, whether or not the block held them.
    public private(set) var arrivalsSinceSync: UInt64 = 0
    /// The campaign-wide admission rate, when shared.
    private var sharedRate: Double?
    /// Places every node had reserved at the last sync: what caps the frontier on every node
    /// alike (this node's own burst past its block does not move it).
    private var sharedIssued: UInt64 = 0
    /// Who is still in line; nil when the room keeps no presence (off, or shared by several
    /// nodes, where the holders' requests spread over nodes that do not see each other's).
    private var presence: Presence?
    private static let checkpointInterval = 1.0
    private static let maxCheckpoints = 3_600

    /// Opens a room with `counters` (fresh or restored) at time `now`.
    /// `presenceWindow` is how long a holder may go without asking before their place is
    /// passed over (nil: places are kept however long their holders are away).
    public init(
        counters: WaitingRoomCounters, startsAt: Double, now: Double, adaptiveRate: Double = 500,
        admissionValidity: Double = 120, presenceWindow: Double? = nil
    ) {
        self.counters = counters
        self.startsAt = startsAt
        self.adaptiveRate = adaptiveRate
        self.admissionValidity = admissionValidity
        self.lastAdvance = now
        checkpoints.append((now, counters.admitted))
        presence = presenceWindow.map { window in
            Presence(
                window: window, now: now, frontier: UInt64(max(0, counters.admitted.rounded(.down))),
                issued: counters.issued)
        }
    }

    /// How long a holder may go without asking before their place is passed over; nil when
    /// places are kept.
    public var presenceWindow: Double? { presence?.window }

    /// Admissions per second now.
    public var rate: Double { max(0.001, fixedRate ?? sharedRate ?? adaptiveRate) }

    /// Takes in the room as the database shared by several nodes holds it now: the frontier,
    /// the pre-queue, the campaign-wide rate, and a fresh block of places for this node (what is
    /// left of the previous block is not used again, so a slow node cannot hand out places the
    /// frontier has long passed).
    public mutating func adopt(_ shared: SharedRoomState, now: Double) {
        isShared = true
        presence = nil
        counters.issued = max(counters.issued, shared.issued)
        sharedIssued = shared.issued
        counters.admitted = max(counters.admitted, shared.admitted)
        counters.preQueueSize = shared.preQueueSize
        counters.shuffleSeed = shared.shuffleSeed
        sharedRate = shared.rate
        fixedRate = shared.fixedRate
        block = shared.block
        arrivalsSinceSync = 0
        lastAdvance = max(lastAdvance, now)
        if let last = checkpoints.last, now - last.time >= Self.checkpointInterval { checkpoints.append((now, counters.admitted)) }
    }

    /// Tickets issued but not yet admitted.
    public var waitingCount: UInt64 {
        guard counters.preQueueSize != nil else { return counters.issued }
        let frontier = UInt64(max(0, counters.admitted.rounded(.down)))
        return counters.issued > frontier ? counters.issued - frontier : 0
    }

    /// Tickets not yet admitted whose holders are still asking, as of the last second's count.
    public var presentWaitingCount: UInt64 {
        guard let presence, counters.preQueueSize != nil else { return waitingCount }
        return presence.presentWaiting(frontier: UInt64(max(0, counters.admitted.rounded(.down))))
    }

    /// True when an arrival now would be admitted at once.
    public var hasRoom: Bool {
        counters.preQueueSize != nil && Double(counters.issued) < counters.admitted.rounded(.down)
    }

    /// Moves the admission frontier forward to `now`; at the campaign's start, fixes the pre-queue.
    public mutating func advance(to now: Double) {
        if counters.preQueueSize == nil {
            // A shared room's pre-queue is fixed in the database, the same for every node.
            guard now >= startsAt, !isShared else {
                lastAdvance = now
                return
            }
            counters.preQueueSize = counters.issued
            let (size, key) = (counters.issued, counters.shuffleSeed)
            presence?.reorder(preQueue: size) { Self.permute($0, count: size, key: key) }
            lastAdvance = max(lastAdvance, startsAt)
        }
        let from = lastAdvance
        let elapsed = paused ? 0 : max(0, now - lastAdvance)
        lastAdvance = max(lastAdvance, now)
        // The frontier may run ahead of arrivals by one second of admissions, so that while
        // nobody waits, newcomers go straight in at up to the admission rate. Credit above that
        // (left from a higher rate, say before an operator fixed a low one) is dropped; an
        // admission already handed to an issued ticket never is.
        let ceiling = Double(isShared ? sharedIssued : counters.issued) + max(1, rate)
        // Presence is changed in place (`presence!`), never copied out: it holds the whole line.
        let moved =
            paused || presence == nil
            ? counters.admitted + elapsed * rate
            : Self.passOver(
                &presence!, frontier: counters.admitted, issued: Double(counters.issued), from: from,
                credit: elapsed * rate, rate: rate, ceiling: ceiling)
        counters.admitted = max(min(ceiling, moved), min(counters.admitted, Double(counters.issued)))
        if presence != nil {
            let frontier = UInt64(max(0, counters.admitted.rounded(.down)))
            presence!.forget(below: frontier)
            presence!.refreshCounts(frontier: frontier, now: now)
        }
        if let last = checkpoints.last, now - last.time >= Self.checkpointInterval {
            checkpoints.append((now, counters.admitted))
            if checkpoints.count > Self.maxCheckpoints { checkpoints.removeFirst(checkpoints.count / 2) }
        }
    }

    /// Moves the frontier by `credit` admissions from time `from`, passing over for free every
    /// issued place whose holder had stopped asking by the time the frontier reached it.
    private static func passOver(
        _ presence: inout Presence, frontier: Double, issued: Double, from: Double, credit: Double, rate: Double,
        ceiling: Double
    ) -> Double {
        var frontier = frontier
        var left = credit
        while frontier < ceiling {
            guard frontier < issued else { return min(ceiling, frontier + left) }
            let start = frontier.rounded(.down)
            // A place is judged when the frontier reaches its start; one it has begun to admit is
            // finished whatever its holder does meanwhile.
            if frontier == start, !presence.isPresent(UInt64(start), at: from + (credit - left) / rate) {
                presence.skip(UInt64(start))
                frontier = start + 1
                continue
            }
            guard left > 0 else { break }
            if left >= start + 1 - frontier {
                left -= start + 1 - frontier
                frontier = start + 1
            } else {
                frontier += left
                left = 0
            }
        }
        return frontier
    }

    /// Records that the ticket's holder asked about it at `now`: they are still in line.
    public mutating func sawHolder(sequence: UInt64, preQueue: Bool, now: Double) {
        guard presence != nil else { return }
        // Before the start a pre-queue place is kept by arrival; the start reorders them.
        let rank = rank(sequence: sequence, preQueue: preQueue) ?? sequence
        presence?.saw(rank, at: now)
    }

    /// Hands out the next place in line. A shared room takes it from this node's block; past
    /// the block's end (a burst between two syncs) it counts on, and such a place may be shared
    /// with another node's arrival: both are admitted together.
    public mutating func enqueue() -> (sequence: UInt64, preQueue: Bool) {
        guard isShared else {
            defer { counters.issued += 1 }
            presence?.saw(counters.issued, at: lastAdvance)
            return (counters.issued, counters.preQueueSize == nil)
        }
        defer { arrivalsSinceSync += 1 }
        let sequence = block.lowerBound + arrivalsSinceSync
        counters.issued = max(counters.issued, sequence + 1)
        return (sequence, counters.preQueueSize == nil)
    }

    /// The ticket's rank in admission order; nil for a pre-queue ticket before the start.
    public func rank(sequence: UInt64, preQueue: Bool) -> UInt64? {
        guard preQueue else { return sequence }
        guard let size = counters.preQueueSize else { return nil }
        guard sequence < size else { return sequence }
        return Self.permute(sequence, count: size, key: counters.shuffleSeed)
    }

    /// Where the ticket stands at `now` (after `advance(to:)`). `presentedWithClaim` is true when
    /// the holder is claiming with it rather than asking where it stands.
    ///
    /// Nodes sharing a room see its frontier up to a sync or two apart, so a shared room counts a
    /// quarter second of admissions beyond its frontier as passed, and for a claim three quarters:
    /// a ticket one node reports admitted is honoured by a node half a second behind it.
    public func status(sequence: UInt64, preQueue: Bool, now: Double, presentedWithClaim: Bool = false) -> QueueStatus {
        guard let rank = rank(sequence: sequence, preQueue: preQueue) else {
            return .waitingForStart(startsInSeconds: max(0, startsAt - now))
        }
        let position = Double(rank)
        let grace = isShared ? max(1, rate * 0.25) + (presentedWithClaim ? max(1, rate * 0.5) : 0) : 0
        let frontier = (counters.admitted + grace).rounded(.down)
        guard position < frontier else {
            let behind = UInt64(position - frontier)
            let present = presence?.presentAhead(of: rank, frontier: UInt64(frontier)) ?? behind
            let ahead = present + 1
            return .waiting(position: ahead, estimatedWaitSeconds: Double(ahead) / rate, leftAhead: behind - min(behind, present))
        }
        if presence?.wasSkipped(rank) == true { return .skipped }
        let admittedAt = admissionTime(of: position)
        let remaining = admittedAt + admissionValidity - now
        return remaining > 0 ? .admitted(validForSeconds: remaining) : .lapsed
    }

    /// When the frontier passed `position`: the first checkpoint beyond it, or the oldest kept.
    private func admissionTime(of position: Double) -> Double {
        var low = 0
        var high = checkpoints.count - 1
        guard position < checkpoints[high].admitted else { return lastAdvance }
        while low < high {
            let middle = (low + high) / 2
            if checkpoints[middle].admitted > position { high = middle } else { low = middle + 1 }
        }
        return checkpoints[low].time
    }

    /// A keyed random permutation of `0..<count` (a 4-round Feistel network with cycle walking):
    /// every pre-queue arrival gets a distinct rank, and the order is unrelated to arrival.
    public static func permute(_ value: UInt64, count: UInt64, key: UInt64) -> UInt64 {
        precondition(value < count)
        var bits = max(2, 64 - (count - 1).leadingZeroBitCount)
        if bits % 2 == 1 { bits += 1 }
        let half = UInt64(bits / 2)
        let mask: UInt64 = (1 << half) - 1
        var current = value
        repeat {
            var left = current >> half
            var right = current & mask
            for round: UInt64 in 0..<4 {
                let mixed = splitMix(right ^ key ^ (round &* 0x9E37_79B9_7F4A_7C15)) & mask
                (left, right) = (right, left ^ mixed)
            }
            current = left << half | right
        } while current >= count
        return current
    }

    private static func splitMix(_ seed: UInt64) -> UInt64 {
        var z = seed &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

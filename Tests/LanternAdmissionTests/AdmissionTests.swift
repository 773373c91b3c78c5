import LanternLab
import Foundation
import Testing

@testable import LanternAdmission

@Suite struct AdaptiveConcurrencyLimitTests {
    /// A server that serves `capacity` requests at once in `serviceTime` seconds and queues the
    /// rest (latency grows with the queue), driven by clients that always want more.
    func simulate(capacity: Int, serviceTime: Double, seconds: Double) -> (limit: Double, throughput: Double) {
        var limiter = AdaptiveConcurrencyLimit(initial: 8, minLimit: 4, maxLimit: 10_000)
        var inFlight: [(done: Double, started: Double)] = []
        var now = 0.0
        var completed = 0
        var completedLate = 0
        let step = serviceTime / 20
        while now < seconds {
            while limiter.tryAcquire() {
                let queued = max(0, inFlight.count + 1 - capacity)
                let latency = serviceTime * (1 + Double(queued) / Double(capacity))
                inFlight.append((now + latency, now))
            }
            now += step
            inFlight.removeAll { request in
                guard request.done <= now else { return false }
                limiter.release(latency: request.done - request.started)
                completed += 1
                if now > seconds / 2 { completedLate += 1 }
                return true
            }
        }
        return (limiter.limit, Double(completedLate) / (seconds / 2))
    }

    @Test func convergesNearCapacityAndKeepsThroughput() {
        let capacity = 100
        let serviceTime = 0.010
        let result = simulate(capacity: capacity, serviceTime: serviceTime, seconds: 30)
        let best = Double(capacity) / serviceTime
        #expect(result.limit > Double(capacity) * 0.7)
        #expect(result.limit < Double(capacity) * 3)
        #expect(result.throughput > best * 0.9)
    }

    @Test func shrinksWhenLatencyRises() {
        var limiter = AdaptiveConcurrencyLimit(initial: 200, minLimit: 4, maxLimit: 1_000, windowSize: 10)
        for _ in 0..<200 {
            _ = limiter.tryAcquire()
            limiter.release(latency: 0.01)
        }
        let settled = limiter.limit
        for _ in 0..<200 {
            _ = limiter.tryAcquire()
            limiter.release(latency: 0.2)
        }
        #expect(limiter.limit < settled / 2)
    }
}

@Suite struct HotKeyLimiterTests {
    @Test func aHammeringKeyIsLimitedAndToldWhenToComeBack() {
        var limiter = HotKeyLimiter(ratePerSecond: 5, burst: 10, capacity: 1_024)
        var allowed = 0
        var retryAfter: Double?
        for _ in 0..<100 {
            switch limiter.allow("hammer", now: 100) {
            case .allowed: allowed += 1
            case .limited(let wait): retryAfter = wait
            }
        }
        #expect(allowed == 10)
        #expect(retryAfter.map { $0 > 0 && $0 <= 0.2 + 1e-9 } == true)
        // Two seconds later the bucket has refilled by ten tokens.
        var later = 0
        for _ in 0..<100 where limiter.allow("hammer", now: 102) == .allowed { later += 1 }
        #expect(later == 10)
    }

    @Test func ordinaryUsersNeverNoticeAndMemoryStaysFixed() {
        var limiter = HotKeyLimiter(ratePerSecond: 1, burst: 5, capacity: 4_096)
        let capacity = limiter.capacity
        var refused = 0
        for user in 0..<200_000 where limiter.allow("user-\(user)", now: Double(user) / 1_000) != .allowed {
            refused += 1
        }
        #expect(refused == 0)
        #expect(limiter.capacity == capacity)
    }

    @Test func aFloodOfNewKeysDoesNotFreeAHotKey() {
        var limiter = HotKeyLimiter(ratePerSecond: 1, burst: 3, capacity: 1_024)
        var hotAllowed = 0
        for tick in 0..<10_000 {
            let now = Double(tick) / 1_000
            _ = limiter.allow("stranger-\(tick)", now: now)
            if limiter.allow("hot", now: now) == .allowed { hotAllowed += 1 }
        }
        // Ten seconds at one token a second plus a burst of three.
        #expect(hotAllowed <= 14)
    }
}

@Suite struct QueueTicketTests {
    let signer = QueueTicketSigner(secret: "ticket-secret")
    let ticket = QueueTicket(campaign: "spring", user: "alice", sequence: 42, issuedAtMs: 1_000_000, preQueue: false)

    @Test func roundTrips() throws {
        let text = signer.sign(ticket)
        #expect(try signer.verify(text, user: "alice", campaign: "spring", nowMs: 1_000_500) == ticket)
    }

    @Test func tamperingIsDetected() {
        let text = signer.sign(ticket)
        let forgedPayload = Base64URL.encode(Array("1|spring|alice|1|1000000|0".utf8))
        let swapped = forgedPayload + "." + text.split(separator: ".")[1]
        #expect(throws: QueueTicketError.forged) { try signer.verify(swapped, user: "alice", campaign: "spring", nowMs: 1_000_500) }
        let other = QueueTicketSigner(secret: "another-secret").sign(ticket)
        #expect(throws: QueueTicketError.forged) { try signer.verify(other, user: "alice", campaign: "spring", nowMs: 1_000_500) }
        #expect(throws: QueueTicketError.malformed) { try signer.verify("garbage", user: "alice", campaign: "spring", nowMs: 0) }
    }

    @Test func aTicketCannotBeUsedByAnotherUserOrCampaign() {
        let text = signer.sign(ticket)
        #expect(throws: QueueTicketError.notYours) { try signer.verify(text, user: "bob", campaign: "spring", nowMs: 1_000_500) }
        #expect(throws: QueueTicketError.notYours) { try signer.verify(text, user: "alice", campaign: "autumn", nowMs: 1_000_500) }
    }

    @Test func oldTicketsExpire() {
        let text = signer.sign(ticket)
        #expect(throws: QueueTicketError.expired) {
            try signer.verify(text, user: "alice", campaign: "spring", nowMs: 1_000_000 + signer.maxAgeMs + 1)
        }
    }

    @Test func base64URLRoundTripsAndRejectsOtherAlphabets() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<40 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let foundation = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == foundation)
            #expect(Base64URL.decode(Array(foundation.utf8)[...]) == bytes)
        }
        #expect(Base64URL.decode(Array("a+b".utf8)[...]) == nil)
    }
}

@Suite struct WaitingRoomTests {
    @Test func admitsStrictlyInArrivalOrderAtTheRate() {
        var room = WaitingRoom(counters: WaitingRoomCounters(shuffleSeed: 1), startsAt: 0, now: 0)
        room.fixedRate = 10
        room.advance(to: 0)
        // Ten arrivals fit in the first second of admissions; the rest wait in line.
        let tickets = (0..<100).map { _ in room.enqueue() }
        var admittedOrder: [UInt64] = []
        var admittedSet = Set<UInt64>()
        for tenth in 0...120 {
            let now = Double(tenth) / 10
            room.advance(to: now)
            for ticket in tickets where !admittedSet.contains(ticket.sequence) {
                if case .admitted = room.status(sequence: ticket.sequence, preQueue: ticket.preQueue, now: now) {
                    admittedSet.insert(ticket.sequence)
                    admittedOrder.append(ticket.sequence)
                }
            }
        }
        #expect(admittedOrder == admittedOrder.sorted())
        #expect(admittedOrder.count == 100)
        guard case .waiting(let position, let wait, _) = WaitingRoom.positionAfter(adding: 50, rate: 10) else {
            Issue.record("expected a position")
            return
        }
        // The 50th arrival at the very start, at ten a second: 50th in line, five seconds away.
        #expect(position == 50)
        #expect(abs(wait - 5) < 1e-9)
    }

    @Test func positionsCountDownAndAdmissionsLapse() {
        var room = WaitingRoom(counters: WaitingRoomCounters(shuffleSeed: 1), startsAt: 0, now: 0, admissionValidity: 30)
        room.fixedRate = 2
        room.advance(to: 0)
        let tickets = (0..<20).map { _ in room.enqueue() }
        let last = tickets.last!
        guard case .waiting(let first, _, _) = room.status(sequence: last.sequence, preQueue: false, now: 0) else {
            Issue.record("last ticket should wait")
            return
        }
        room.advance(to: 3)
        guard case .waiting(let later, let wait, _) = room.status(sequence: last.sequence, preQueue: false, now: 3) else {
            Issue.record("last ticket should still wait")
            return
        }
        #expect(later == first - 6)
        #expect(abs(wait - Double(later) / 2) < 1e-9)
        room.advance(to: 12)
        #expect(room.status(sequence: last.sequence, preQueue: false, now: 12) == .admitted(validForSeconds: 30))
        room.advance(to: 60)
        #expect(room.status(sequence: last.sequence, preQueue: false, now: 60) == .lapsed)
    }

    @Test func aPausedRoomStandsStillAndKeepsEveryonesPlace() {
        var room = WaitingRoom(counters: WaitingRoomCounters(shuffleSeed: 1), startsAt: 0, now: 0)
        room.fixedRate = 2
        room.advance(to: 0)
        let tickets = (0..<20).map { _ in room.enqueue() }
        room.advance(to: 2)
        let before = room.status(sequence: tickets[15].sequence, preQueue: false, now: 2)
        room.paused = true
        room.advance(to: 600)
        #expect(room.status(sequence: tickets[15].sequence, preQueue: false, now: 600) == before)
        room.paused = false
        room.advance(to: 603)
        guard case .waiting(let position, _, _) = before,
            case .waiting(let after, _, _) = room.status(sequence: tickets[15].sequence, preQueue: false, now: 603)
        else {
            Issue.record("the sixteenth ticket should still be waiting three seconds after the pause ends")
            return
        }
        #expect(after == position - 6)
    }

    @Test func aLowFixedRateTakesEffectAtOnceAfterAFastAdaptiveRate() {
        var room = WaitingRoom(counters: WaitingRoomCounters(shuffleSeed: 1), startsAt: 0, now: 0, adaptiveRate: 5_000)
        room.advance(to: 10)
        #expect(room.hasRoom)
        let early = (0..<100).map { _ in room.enqueue() }
        room.fixedRate = 1.0 / 60
        room.advance(to: 10.001)
        // Those already admitted stay admitted; the second's worth of unused credit is gone.
        #expect(room.status(sequence: early[99].sequence, preQueue: false, now: 10.001) != .lapsed)
        guard case .admitted = room.status(sequence: early[99].sequence, preQueue: false, now: 10.001) else {
            Issue.record("an admitted ticket lost its admission")
            return
        }
        var straightIn = 0
        while room.hasRoom, straightIn < 1_000 {
            _ = room.enqueue()
            straightIn += 1
        }
        #expect(straightIn <= 1)
    }

    @Test func arrivalsGoStraightInWhileUnderTheRateAndQueueAboveIt() {
        var room = WaitingRoom(counters: WaitingRoomCounters(shuffleSeed: 1), startsAt: 0, now: 0)
        room.fixedRate = 5
        var straightIn = 0
        // Two arrivals a second, under the rate of five: everyone after the first goes straight in.
        for half in 1...100 {
            room.advance(to: Double(half) / 2)
            if room.hasRoom { straightIn += 1 }
            _ = room.enqueue()
        }
        #expect(straightIn == 100)
        // A burst of a hundred at one instant: one second of admissions goes in, the rest wait.
        room.advance(to: 60)
        var burstIn = 0
        for _ in 0..<100 {
            if room.hasRoom { burstIn += 1 }
            _ = room.enqueue()
        }
        #expect(burstIn == 5)
    }

    @Test func thePreQueueIsShuffledAtTheStart() {
        var room = WaitingRoom(counters: WaitingRoomCounters(shuffleSeed: 0xC0FFEE), startsAt: 100, now: 0)
        let early = (0..<1_000).map { _ in room.enqueue() }
        #expect(early.allSatisfy { $0.preQueue })
        #expect(room.status(sequence: 0, preQueue: true, now: 50) == .waitingForStart(startsInSeconds: 50))
        room.advance(to: 100)
        let ranks = early.map { room.rank(sequence: $0.sequence, preQueue: true)! }
        #expect(Set(ranks) == Set(0..<1_000))
        #expect(abs(rankCorrelation(Array(0..<1_000).map(Double.init), ranks.map(Double.init))) < 0.1)
        // Somebody arriving after the start queues behind the whole pre-queue.
        let late = room.enqueue()
        #expect(!late.preQueue)
        #expect(room.rank(sequence: late.sequence, preQueue: false)! >= 1_000)
    }

    @Test func theShuffleIsAPermutationForEverySize() {
        for count: UInt64 in [1, 2, 3, 7, 100, 1_023, 1_024, 1_025] {
            let image = Set((0..<count).map { WaitingRoom.permute($0, count: count, key: 99) })
            #expect(image == Set(0..<count))
        }
    }

    @Test func aRestartKeepsEveryonesPlace() throws {
        var room = WaitingRoom(counters: WaitingRoomCounters(shuffleSeed: 7), startsAt: 10, now: 0)
        room.fixedRate = 3
        let early = (0..<50).map { _ in room.enqueue() }
        room.advance(to: 12)
        let late = (0..<50).map { _ in room.enqueue() }
        room.advance(to: 14)
        let before = (early + late).map { room.status(sequence: $0.sequence, preQueue: $0.preQueue, now: 14) }
        let saved = try JSONEncoder().encode(room.counters)
        var restored = WaitingRoom(
            counters: try JSONDecoder().decode(WaitingRoomCounters.self, from: saved), startsAt: 10, now: 14)
        restored.fixedRate = 3
        let after = (early + late).map { restored.status(sequence: $0.sequence, preQueue: $0.preQueue, now: 14) }
        let waitingBefore = before.filter { if case .waiting = $0 { return true } else { return false } }
        let waitingAfter = after.filter { if case .waiting = $0 { return true } else { return false } }
        #expect(waitingBefore == waitingAfter)
        #expect(!waitingBefore.isEmpty)
        #expect(restored.enqueue().sequence == 100)
    }
}

extension WaitingRoom {
    /// Status of the 50th of `count` arrivals into an empty room after the first second.
    static func positionAfter(adding count: Int, rate: Double) -> QueueStatus {
        var room = WaitingRoom(counters: WaitingRoomCounters(shuffleSeed: 1), startsAt: 0, now: 0)
        room.fixedRate = rate
        room.advance(to: 0)
        let tickets = (0..<count).map { _ in room.enqueue() }
        return room.status(sequence: tickets.last!.sequence, preQueue: false, now: 0)
    }
}

@Suite struct RushMathTests {
    @Test func profilesSpreadEveryoneOverTheRunInOrder() {
        for profile in ArrivalProfile.allCases {
            let times = profile.arrivalTimes(users: 1_000, duration: 60)
            #expect(times.count == 1_000)
            #expect(times == times.sorted())
            #expect(times.first! >= 0 && times.last! <= 60)
        }
    }

    @Test func theSpikeIsTensOfTimesTheQuietRate() {
        let times = ArrivalProfile.spike.arrivalTimes(users: 10_000, duration: 100)
        let quiet = times.filter { $0 < 20 }.count
        let spike = times.filter { $0 >= 20 && $0 < 30 }.count
        let quietRate = Double(quiet) / 20
        let spikeRate = Double(spike) / 10
        #expect(spikeRate / quietRate >= 20)
    }

    @Test func rankCorrelationOfOrderedShuffledAndTiedSamples() {
        let ordered = (0..<100).map(Double.init)
        #expect(abs(rankCorrelation(ordered, ordered) - 1) < 1e-12)
        #expect(abs(rankCorrelation(ordered, ordered.reversed()) + 1) < 1e-12)
        // Admission observed once a second: ties within a second still correlate almost perfectly.
        let observed = ordered.map { ($0 / 10).rounded(.down) }
        #expect(rankCorrelation(ordered, observed) > 0.99)
        #expect(abs(rankCorrelation(ordered, ordered.map { Double((Int($0) * 37) % 100) })) < 0.3)
    }
}

/// A waiting room shared by several nodes through the database: places from blocks, the
/// frontier and the pre-queue from the shared state.
@Suite struct SharedWaitingRoomTests {
    func shared(issued: UInt64, admitted: Double, block: Range<UInt64>, rate: Double = 8) -> SharedRoomState {
        SharedRoomState(
            issued: issued, admitted: admitted, preQueueSize: 0, shuffleSeed: 7, rate: rate, fixedRate: rate, block: block)
    }

    @Test func nodesNumberTheirArrivalsFromTheirOwnBlocksAndAgreeOnWhoIsAdmitted() {
        var a = WaitingRoom(counters: WaitingRoomCounters(shuffleSeed: 1), startsAt: 0, now: 10)
        var b = WaitingRoom(counters: WaitingRoomCounters(shuffleSeed: 2), startsAt: 0, now: 10)
        a.adopt(shared(issued: 6, admitted: 0, block: 0..<3), now: 10)
        b.adopt(shared(issued: 6, admitted: 0, block: 3..<6), now: 10)
        #expect((0..<3).map { _ in a.enqueue().sequence } == [0, 1, 2])
        #expect((0..<3).map { _ in b.enqueue().sequence } == [3, 4, 5])
        // The frontier at 2 with a quarter second of grace at 8/s: ranks 0-3 are in on both nodes.
        a.adopt(shared(issued: 6, admitted: 2, block: 6..<6), now: 10)
        b.adopt(shared(issued: 6, admitted: 2, block: 6..<6), now: 10)
        for sequence: UInt64 in 0..<6 {
            let onA = a.status(sequence: sequence, preQueue: false, now: 10)
            let onB = b.status(sequence: sequence, preQueue: false, now: 10)
            if case .admitted = onA { #expect(sequence < 4) } else { #expect(sequence >= 4) }
            #expect((onA == .lapsed) == (onB == .lapsed))
            if case .admitted = onA, case .admitted = onB {} else if case .waiting = onA, case .waiting = onB {} else {
                Issue.record("nodes disagree on place \(sequence): \(onA) vs \(onB)")
            }
        }
    }

    @Test func aTicketOneNodeReportsAdmittedIsHonouredByANodeHalfASecondBehind() {
        var ahead = WaitingRoom(counters: WaitingRoomCounters(shuffleSeed: 1), startsAt: 0, now: 10)
        var behind = WaitingRoom(counters: WaitingRoomCounters(shuffleSeed: 2), startsAt: 0, now: 10)
        // At 8/s, the node behind last saw the frontier four syncs (0.4 s) before the other did.
        ahead.adopt(shared(issued: 100, admitted: 20, block: 100..<100), now: 10)
        behind.adopt(shared(issued: 100, admitted: 20 - 8 * 0.4, block: 100..<100), now: 10)
        let reported = (0..<100).filter { sequence -> Bool in
            if case .admitted = ahead.status(sequence: UInt64(sequence), preQueue: false, now: 10) { return true }
            return false
        }
        #expect(reported.count == 22)
        // Asked where they stand, the two nodes disagree on the last places...
        let waitingBehind = reported.filter { sequence -> Bool in
            if case .waiting = behind.status(sequence: UInt64(sequence), preQueue: false, now: 10) { return true }
            return false
        }
        #expect(!waitingBehind.isEmpty)
        // ...yet whoever claims with a ticket the node ahead reported admitted is let in on both.
        for sequence in reported {
            let claimed = behind.status(sequence: UInt64(sequence), preQueue: false, now: 10, presentedWithClaim: true)
            guard case .admitted = claimed else {
                Issue.record("place \(sequence), admitted ahead, answered \(claimed) to a claim behind")
                continue
            }
        }
        // The grace is bounded: a claim a second of admissions past the frontier still waits.
        let early = ahead.status(sequence: 28, preQueue: false, now: 10, presentedWithClaim: true)
        guard case .waiting = early else {
            Issue.record("a claim a second early answered \(early)")
            return
        }
    }

    @Test func aFreshBlockReplacesWhatIsLeftOfTheOldOne() {
        var room = WaitingRoom(counters: WaitingRoomCounters(shuffleSeed: 1), startsAt: 0, now: 10)
        room.adopt(shared(issued: 10, admitted: 0, block: 0..<10), now: 10)
        _ = room.enqueue()
        room.adopt(shared(issued: 14, admitted: 0, block: 12..<14), now: 10.1)
        // Places 1-9 are never handed out now: the frontier may already have passed them.
        #expect(room.enqueue().sequence == 12)
        #expect(room.arrivalsSinceSync == 1)
    }

    @Test func aBurstPastTheBlockDoesNotMoveThisNodesFrontierAheadOfTheOthers() {
        var burst = WaitingRoom(counters: WaitingRoomCounters(shuffleSeed: 1), startsAt: 0, now: 10)
        var quiet = WaitingRoom(counters: WaitingRoomCounters(shuffleSeed: 2), startsAt: 0, now: 10)
        burst.adopt(shared(issued: 2, admitted: 2, block: 0..<2), now: 10)
        quiet.adopt(shared(issued: 2, admitted: 2, block: 2..<2), now: 10)
        for _ in 0..<50 { _ = burst.enqueue() }
        burst.advance(to: 20)
        quiet.advance(to: 20)
        #expect(burst.counters.admitted == quiet.counters.admitted)
        #expect(burst.waitingCount > quiet.waitingCount)
    }
}

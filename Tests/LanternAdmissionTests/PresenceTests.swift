import Testing

@testable import LanternAdmission

@Suite("Waiting-room presence and proof of work")
struct PresenceTests {
    /// Twenty in line at one a second; the even places keep asking, the odd ones stop at once.
    func room(presenceWindow: Double?) -> (WaitingRoom, [(sequence: UInt64, preQueue: Bool)]) {
        // Ranks are sequences here: every place is handed out after the start.
        var room = WaitingRoom(
            counters: WaitingRoomCounters(shuffleSeed: 7), startsAt: 0, now: 0, admissionValidity: 1_000,
            presenceWindow: presenceWindow)
        room.fixedRate = 1
        room.advance(to: 0)
        let tickets = (0..<20).map { _ in room.enqueue() }
        room.advance(to: 8)
        for ticket in tickets where ticket.sequence % 2 == 0 {
            room.sawHolder(sequence: ticket.sequence, preQueue: false, now: 8)
        }
        return (room, tickets)
    }

    @Test("A holder who stopped asking is passed over when the frontier reaches them, and positions count only those still there")
    func absentHoldersArePassedOver() {
        var (room, _) = room(presenceWindow: 10)
        guard case .waiting(let before, _, let leftBefore) = room.status(sequence: 18, preQueue: false, now: 8) else {
            Issue.record("18 should be waiting at 8 s")
            return
        }
        // At 8 s the frontier is at 8 and nobody has been gone ten seconds yet.
        #expect(before == 11)
        #expect(leftBefore == 0)

        // By 11 s the odd holders (last seen at 0) are gone: 11 is passed over at once, and the
        // estimate for 18 counts 12, 14 and 16 ahead of it, not the three gone among them.
        room.advance(to: 11)
        guard case .waiting(let after, let wait, let leftAfter) = room.status(sequence: 18, preQueue: false, now: 11) else {
            Issue.record("18 should be waiting at 11 s")
            return
        }
        #expect(after == 4)
        #expect(wait == 4)
        #expect(leftAfter == 3)

        // At one a second the four present ahead of it and 18 itself are in by 16 s; every odd
        // place from 11 on was skipped, and 9, still there when the frontier reached it, was admitted.
        room.advance(to: 16)
        if case .admitted = room.status(sequence: 18, preQueue: false, now: 16) {} else {
            Issue.record("18 should be admitted at 16 s: \(room.status(sequence: 18, preQueue: false, now: 16))")
        }
        for odd in stride(from: UInt64(11), to: 20, by: 2) {
            #expect(room.status(sequence: odd, preQueue: false, now: 16) == .skipped, "\(odd)")
        }
        if case .admitted = room.status(sequence: 9, preQueue: false, now: 16) {} else {
            Issue.record("9 was there when its turn came")
        }
        #expect(room.presentWaitingCount == 0)
    }

    @Test("Without presence every place is kept: the same line moves one place a second")
    func withoutPresencePlacesAreKept() {
        var (room, _) = room(presenceWindow: nil)
        room.advance(to: 11)
        guard case .waiting(let position, _, let left) = room.status(sequence: 18, preQueue: false, now: 11) else {
            Issue.record("18 should be waiting")
            return
        }
        #expect(position == 8)
        #expect(left == 0)
        room.advance(to: 16)
        #expect(room.status(sequence: 13, preQueue: false, now: 16) != .skipped)
    }

    @Test("Before the start presence is kept by arrival; at the start the drawn order takes it along")
    func preQueuePresenceFollowsTheDraw() {
        var room = WaitingRoom(
            counters: WaitingRoomCounters(shuffleSeed: 99), startsAt: 10, now: 0, admissionValidity: 1_000,
            presenceWindow: 6)
        room.fixedRate = 1
        room.advance(to: 0)
        let early = (0..<10).map { _ in room.enqueue() }
        room.advance(to: 9)
        for ticket in early.prefix(5) { room.sawHolder(sequence: ticket.sequence, preQueue: true, now: 9) }
        room.advance(to: 15)
        for ticket in early.prefix(5) {
            if case .admitted = room.status(sequence: ticket.sequence, preQueue: true, now: 15) {} else {
                Issue.record("\(ticket.sequence) asked at 9 s and should be in")
            }
        }
        for ticket in early.suffix(5) {
            #expect(room.status(sequence: ticket.sequence, preQueue: true, now: 15) == .skipped, "\(ticket.sequence)")
        }
    }

    @Test("A puzzle's solution is checked, a near miss is not one, and a ticket carries its difficulty")
    func puzzles() throws {
        let ticket = "payload.signature"
        let nonce = QueuePuzzle.solve(ticket: ticket, bits: 12)
        #expect(QueuePuzzle.isSolved(ticket: ticket, nonce: nonce, bits: 12))
        // The first solution as Python's hashlib and the /chat page's solve() (run in Node) find it.
        #expect(nonce == "3320")
        // The solver counts up from zero, so every smaller nonce fails.
        if let value = UInt64(nonce), value > 0 {
            #expect(!QueuePuzzle.isSolved(ticket: ticket, nonce: String(value - 1), bits: 12))
        }
        #expect(!QueuePuzzle.isSolved(ticket: ticket, nonce: "", bits: 1))

        let signer = QueueTicketSigner(secret: "s")
        let text = signer.sign(QueueTicket(campaign: "c", user: "u", sequence: 3, issuedAtMs: 0, preQueue: false, proofBits: 12))
        #expect(try signer.verify(text, user: "u", campaign: "c", nowMs: 1).proofBits == 12)
        let plain = signer.sign(QueueTicket(campaign: "c", user: "u", sequence: 3, issuedAtMs: 0, preQueue: false))
        #expect(try signer.verify(plain, user: "u", campaign: "c", nowMs: 1).proofBits == 0)
    }
}

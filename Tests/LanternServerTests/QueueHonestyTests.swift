import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LanternAdmission
import Testing

@testable import LanternServer

@Suite("Waiting room: places of people who left, and proof of work")
struct QueueHonestyTests {
    @Test("A ticket whose holder stopped polling is skipped, the estimate shrinks, and they rejoin at the back")
    func staleTicketsAreSkipped() async throws {
        let clock = TestClock()
        try await withTestApp(.sqlite, clock: clock, admission: true) { app in
            _ = try await app.createCampaign()
            // One a minute, with the default 90 s presence window.
            _ = try await app.send(.put, "/v1/campaigns/spring/admission", as: "ops", role: .admin, body: #"{"rate_per_minute":1}"#)
            var tickets: [String] = []
            for user in 1...6 { tickets.append(try #require(try await app.claim("u\(user)").json["ticket"] as? String)) }
            func poll(_ user: Int) async throws -> [String: Any] {
                try await app.send(.get, "/v1/queue/\(tickets[user - 1])", as: "u\(user)").json
            }
            clock.advance(by: 60)
            let early = try await poll(6)
            #expect(early["position"] as? Int == 5)
            #expect(early["left_ahead"] as? Int == 0)
            #expect(early["presence_window_s"] as? Int == 90)
            #expect((early["poll_after_s"] as? Int ?? 99) <= 30)

            // u2…u5 have not asked since they queued 100 s ago: counted as gone.
            clock.advance(by: 40)
            let later = try await poll(6)
            #expect(later["position"] as? Int == 1)
            #expect(later["left_ahead"] as? Int == 4)
            #expect((later["estimated_wait_s"] as? Int ?? 999) <= 60)
            // The operators' count of people waiting leaves them out too: u6 alone is still there.
            let stats = try await app.send(.get, "/v1/admin/stats", as: "ops", role: .admin).json
            let spring = (stats["campaigns"] as? [[String: Any]])?.first { $0["id"] as? String == "spring" }
            #expect(spring?["waiting"] as? Int == 1, "\(stats)")

            // u6 is in at 180 s, not at 360 s behind four absent places.
            clock.advance(by: 80)
            #expect(try await poll(6)["admitted"] as? Bool == true)
            let gone = try await poll(3)
            #expect(gone["skipped"] as? Bool == true)
            #expect(gone["admitted"] as? Bool == false)
            let back = try await app.send(
                .post, "/v1/campaigns/spring/claims", as: "u3", headers: [.idempotencyKey: "u3", .queueTicket: tickets[2]],
                body: "{}")
            #expect(back.status == .accepted)
            #expect(back.json["rejoined"] as? Bool == true)
            #expect(back.json["ticket"] as? String != tickets[2])
            #expect(try app.engine.read { $0.cards(of: "u3").isEmpty })
        }
    }

    @Test("With proof of work on, a ticket is honoured only with its puzzle's solution, on the event loop's claims too")
    func proofOfWork() async throws {
        let clock = TestClock()
        try await withTestApp(.sqlite, over: .live, clock: clock, admission: true) { app in
            _ = try await app.createCampaign()
            _ = try await app.send(.put, "/v1/campaigns/spring/admission", as: "ops", role: .admin, body: #"{"rate_per_minute":60}"#)
            let tooHard = try await app.send(.put, "/v1/campaigns/spring/queue-proof", as: "ops", role: .admin, body: #"{"bits":40}"#)
            #expect(tooHard.status == .unprocessableContent)
            let set = try await app.send(.put, "/v1/campaigns/spring/queue-proof", as: "ops", role: .admin, body: #"{"bits":10}"#)
            #expect(set.status == .ok)
            #expect(try await app.send(.put, "/v1/campaigns/spring/queue-proof", as: "bob", body: #"{"bits":0}"#).status == .forbidden)

            let queued = try await app.claim("ann", key: "ann")
            #expect(queued.status == .accepted)
            let ticket = try #require(queued.json["ticket"] as? String)
            let puzzle = try #require(queued.json["puzzle"] as? [String: Any])
            #expect(puzzle["bits"] as? Int == 10)
            #expect(puzzle["challenge"] as? String == ticket)
            let solution = QueuePuzzle.solve(ticket: ticket, bits: 10)
            let wrong = String((UInt64(solution) ?? 0) + 1)
            let unproven = try await app.send(.get, "/v1/queue/\(ticket)", as: "ann")
            #expect(unproven.status == .preconditionRequired)
            #expect(unproven.errorCode == "proof_required")
            if !QueuePuzzle.isSolved(ticket: ticket, nonce: wrong, bits: 10) {
                let bad = try await app.send(.get, "/v1/queue/\(ticket)", as: "ann", headers: [.queueProof: wrong])
                #expect(bad.errorCode == "proof_invalid")
            }
            #expect(try await app.send(.get, "/v1/queue/\(ticket)", as: "ann", headers: [.queueProof: solution]).status == .ok)

            clock.advance(by: 5)
            let noProof = try await app.send(
                .post, "/v1/campaigns/spring/claims", as: "ann", headers: [.idempotencyKey: "ann", .queueTicket: ticket],
                body: "{}")
            #expect(noProof.status == .preconditionRequired)
            #expect(try app.engine.read { $0.cards(of: "ann").isEmpty })
            let proven = try await app.send(
                .post, "/v1/campaigns/spring/claims", as: "ann",
                headers: [.idempotencyKey: "ann", .queueTicket: ticket, .queueProof: solution], body: "{}")
            #expect(proven.status == .created)

            // Off again: new tickets carry no puzzle.
            _ = try await app.send(.put, "/v1/campaigns/spring/queue-proof", as: "ops", role: .admin, body: #"{"bits":0}"#)
            #expect(try await app.claim("cy").json["puzzle"] == nil)
        }
    }
}

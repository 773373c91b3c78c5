import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LanternApp
import Testing

@testable import LanternServer

@Suite struct AdmissionAPITests {
    func ticket(_ reply: Reply) -> String? { reply.json["ticket"] as? String }

    @Test func aFixedRateQueuesClaimsInOrderAndAdmittedTicketsSkipTheLine() async throws {
        let clock = TestClock()
        try await withTestApp(.sqlite, clock: clock, admission: true) { app in
            _ = try await app.createCampaign()
            let rate = try await app.send(
                .put, "/v1/campaigns/spring/admission", as: "ops", role: .admin, body: #"{"rate_per_minute":60}"#)
            #expect(rate.status == .ok)
            var tickets: [String] = []
            for user in 1...5 {
                let reply = try await app.claim("u\(user)")
                #expect(reply.status == .accepted)
                #expect(reply.json["status"] as? String == "queued")
                #expect(reply.json["position"] as? Int == user)
                #expect(reply.json["estimated_wait_s"] as? Int == user)
                tickets.append(try #require(ticket(reply)))
            }
            let third = try await app.send(.get, "/v1/queue/\(tickets[2])", as: "u3")
            #expect(third.json["position"] as? Int == 3)
            #expect(third.json["admitted"] as? Bool == false)

            clock.advance(by: 3.5)
            let admitted = try await app.send(.get, "/v1/queue/\(tickets[2])", as: "u3")
            #expect(admitted.json["admitted"] as? Bool == true)
            #expect((admitted.json["admission_valid_for_s"] as? Int ?? 0) > 0)
            let claimed = try await app.send(
                .post, "/v1/campaigns/spring/claims", as: "u3",
                headers: [.idempotencyKey: "k3", .queueTicket: tickets[2]], body: "{}")
            #expect(claimed.status == .created)
            // The fifth is still two places back; a newcomer goes behind everyone.
            let fifth = try await app.send(
                .post, "/v1/campaigns/spring/claims", as: "u5",
                headers: [.idempotencyKey: "k5", .queueTicket: tickets[4]], body: "{}")
            #expect(fifth.status == .accepted)
            #expect(fifth.json["position"] as? Int == 2)
            #expect(try await app.claim("u6").json["position"] as? Int == 3)
        }
    }

    @Test func ticketsCannotBeSwappedOrForged() async throws {
        let clock = TestClock()
        try await withTestApp(.sqlite, clock: clock, admission: true) { app in
            _ = try await app.createCampaign()
            _ = try await app.send(
                .put, "/v1/campaigns/spring/admission", as: "ops", role: .admin, body: #"{"rate_per_minute":60}"#)
            let alice = try #require(ticket(try await app.claim("alice")))
            clock.advance(by: 5)
            let swapped = try await app.send(
                .post, "/v1/campaigns/spring/claims", as: "mallory",
                headers: [.idempotencyKey: "m", .queueTicket: alice], body: "{}")
            #expect(swapped.status == .forbidden)
            #expect(swapped.errorCode == "ticket_not_yours")
            let forged = String(alice.dropLast(2)) + (alice.hasSuffix("AA") ? "BB" : "AA")
            let forgedReply = try await app.send(
                .post, "/v1/campaigns/spring/claims", as: "alice",
                headers: [.idempotencyKey: "a", .queueTicket: forged], body: "{}")
            #expect(forgedReply.status == .badRequest)
            #expect(forgedReply.errorCode == "invalid_ticket")
            let peek = try await app.send(.get, "/v1/queue/\(alice)", as: "mallory")
            #expect(peek.status == .forbidden)
            #expect(try app.engine.read { $0.cards(of: "mallory").isEmpty })
        }
    }

    @Test func arrivalsBeforeTheStartWaitInThePreQueue() async throws {
        let clock = TestClock()
        try await withTestApp(.sqlite, clock: clock, admission: true) { app in
            #expect(try await app.createCampaign(startsIn: 600, endsIn: 3_600) == .created)
            let early = try await app.claim("early")
            #expect(early.status == .accepted)
            #expect(early.json["estimated_wait_s"] as? Int == 600)
            #expect(early.json["admitted"] as? Bool == false)
            let earlyTicket = try #require(ticket(early))
            // Asking as told before the start keeps the place (see QueueHonestyTests for the rest).
            clock.advance(by: 550)
            #expect(try await app.send(.get, "/v1/queue/\(earlyTicket)", as: "early").json["position"] as? Int == -1)
            clock.advance(by: 150)
            let status = try await app.send(.get, "/v1/queue/\(earlyTicket)", as: "early")
            #expect(status.json["admitted"] as? Bool == true)
            let claimed = try await app.send(
                .post, "/v1/campaigns/spring/claims", as: "early",
                headers: [.idempotencyKey: "e", .queueTicket: earlyTicket], body: "{}")
            #expect(claimed.status == .created)
        }
    }

    @Test func aHammeringUserIsRateLimitedAndOthersAreNot() async throws {
        try await withTestApp(.sqlite, admission: true) { app in
            _ = try await app.createCampaign()
            var limited: Reply?
            for attempt in 0..<40 {
                let reply = try await app.claim("hammer", key: "h\(attempt)")
                if reply.status == .tooManyRequests {
                    limited = reply
                    break
                }
            }
            let reply = try #require(limited)
            #expect(reply.errorCode == "rate_limited")
            #expect(Int(reply.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(try await app.claim("calm").status == .created)
        }
    }

    @Test func underCapacityClaimsGoStraightThrough() async throws {
        try await withTestApp(.sqlite, admission: true) { app in
            _ = try await app.createCampaign()
            for user in 0..<20 { #expect(try await app.claim("user\(user)").status == .created) }
        }
    }
}

@Suite struct AdmissionRestartTests {
    @Test(arguments: StoreKind.available)
    func aRestartKeepsQueuePositionsAndTheOperatorsRate(_ kind: StoreKind) async throws {
        let store = try await TestStore.make(kind)
        let clock = TestClock()
        let tickets = try await withTestApp(kind, store: store, clock: clock, admission: true) { app in
            _ = try await app.createCampaign()
            _ = try await app.send(
                .put, "/v1/campaigns/spring/admission", as: "ops", role: .admin, body: #"{"rate_per_minute":60}"#)
            var tickets: [String] = []
            for user in 1...6 { tickets.append(try #require(try await app.claim("u\(user)").json["ticket"] as? String)) }
            clock.advance(by: 2)
            let before = try await app.send(.get, "/v1/queue/\(tickets[5])", as: "u6")
            #expect(before.json["position"] as? Int == 4)
            return tickets
        }
        try await withTestApp(kind, store: store, clock: clock, admission: true) { app in
            let sixth = try await app.send(.get, "/v1/queue/\(tickets[5])", as: "u6")
            #expect(sixth.json["position"] as? Int == 4)
            // The fixed rate survived too: one more second admits one more person.
            clock.advance(by: 1)
            let later = try await app.send(.get, "/v1/queue/\(tickets[5])", as: "u6")
            #expect(later.json["position"] as? Int == 3)
            #expect(try await app.claim("newcomer").json["position"] as? Int == 4)
        }
        try await store.remove()
    }
}

@Suite struct AddressLimitTests {
    @Test func oneAddressHammeringIsLimitedButLoopbackIsNot() throws {
        let admission = AdmissionControl(
            AdmissionConfiguration(addressRatePerSecond: 10, addressBurst: 20, ticketSecret: "s"),
            clock: { Date(timeIntervalSince1970: 1_000) })
        var limitedAt: Int?
        for user in 0..<100 {
            do {
                try admission.checkRate(user: "u\(user)", address: "203.0.113.9")
            } catch {
                #expect(error == .rateLimited(retryAfterSeconds: 1))
                limitedAt = user
                break
            }
        }
        #expect(limitedAt == 20)
        for user in 0..<1_000 { try admission.checkRate(user: "v\(user)", address: "127.0.0.1") }
    }
}

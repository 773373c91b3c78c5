import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import LanternAdmission
import LanternApp
import LanternLedger
import LanternStorage

/// Campaign administration (audited), card claims and the caller's wallet.
struct CampaignController: Sendable {
    let engine: LedgerEngine
    let admission: AdmissionControl
    let audit: AuditTrail
    var desk: ClaimDesk { ClaimDesk(engine: engine, admission: admission) }

    /// Routes under `/v1` (bearer auth is applied by the caller).
    func addRoutes(to group: RouterGroup<LanternRequestContext>) {
        group.post("campaigns", use: create)
        group.get("campaigns/:id", use: show)
        group.patch("campaigns/:id", use: extend)
        group.post("campaigns/:id/claims", use: claim)
        group.get("me/cards", use: myCards)
        group.get("queue/:ticket", use: queueStatus)
        group.put("campaigns/:id/admission", use: setAdmission)
        group.put("campaigns/:id/queue-proof", use: setQueueProof)
        group.post("campaigns/:id/pause") { request, context in try await setPaused(true, request, context) }
        group.post("campaigns/:id/resume") { request, context in try await setPaused(false, request, context) }
        group.get("admin/audit", use: auditLog)
    }

    /// The campaign with its live accounting and whether it is paused.
    private func view(_ id: String) throws -> CampaignView? {
        try engine.read { $0.account(id) }.map { CampaignView($0, paused: admission.isPaused(id)) }
    }

    @Sendable func create(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let admin = try context.require(.admin)
        let campaign = try JSONBody.decode(Campaign.self, from: try await JSONBody.bytes(of: request))
        switch try await engine.createCampaign(campaign) {
        case .success(let created):
            try await audit.record("campaign.create", by: admin, target: created.id) { json in
                json.field("budget_fen", created.budgetFen)
                json.field("card_value_fen", created.cardValueFen)
                json.field("max_cards_per_user", created.maxCardsPerUser)
                json.field("starts_at", created.startsAt)
                json.field("ends_at", created.endsAt)
                json.field("cards_expire_at", created.cardsExpireAt)
            }
            return JSONBody.response(try view(created.id), status: .created)
        case .failure(let error):
            throw APIError(error)
        }
    }

    @Sendable func show(_ request: Request, context: LanternRequestContext) async throws -> Response {
        _ = try context.require(.user, .merchant, .admin)
        let id = try context.parameters.require("id")
        // A node sharing the database shows the campaign as the database has it now.
        try await engine.refreshCampaigns()
        guard let view = try view(id) else { throw APIError(LedgerError.campaignNotFound(id)) }
        return JSONBody.response(view)
    }

    @Sendable func extend(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let admin = try context.require(.admin)
        let id = try context.parameters.require("id")
        let change = try JSONBody.decode(CampaignExtension.self, from: try await JSONBody.bytes(of: request))
        switch try await engine.extendCampaign(id, endsAt: change.endsAt, cardsExpireAt: change.cardsExpireAt) {
        case .success:
            try await audit.record("campaign.extend", by: admin, target: id) { json in
                if let endsAt = change.endsAt { json.field("ends_at", endsAt) }
                if let expiry = change.cardsExpireAt { json.field("cards_expire_at", expiry) }
            }
            return JSONBody.response(try view(id))
        case .failure(let error):
            throw APIError(error)
        }
    }

    @Sendable func claim(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let identity = try context.require(.user)
        let campaign = try context.parameters.require("id")
        let body = try await JSONBody.bytes(of: request)
        let answer: ClaimAnswer
        switch desk.prepare(
            user: identity.userID, campaign: campaign, address: context.clientAddress,
            key: request.headers[.idempotencyKey], ticket: request.headers[.queueTicket],
            proof: request.headers[.queueProof], body: body)
        {
        case .answer(let early):
            answer = early
        case .submit(let claim):
            let started = ContinuousClock.now
            defer { desk.finished(since: started) }
            let (outcome, replayed) = try await engine.claim(claim.request, eventLoop: context.eventLoop)
            answer = desk.answer(outcome, replayed: replayed, for: claim)
        }
        return Response(
            status: answer.status, headers: answer.headers, body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }

    @Sendable func myCards(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let identity = try context.require(.user)
        return JSONWriter.cards(try await engine.cards(of: identity.userID)).response(status: .ok)
    }

    @Sendable func queueStatus(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let identity = try context.require(.user)
        let ticket = try context.parameters.require("ticket")
        guard let campaign = AdmissionControl.campaign(ofTicket: ticket),
            let definition = try engine.read({ $0.account(campaign)?.campaign })
        else {
            throw APIError(.badRequest, "invalid_ticket", "not a valid queue ticket")
        }
        let place = try admission.status(
            ticketText: ticket, user: identity.userID, campaign: definition, proof: request.headers[.queueProof])
        var json = JSONWriter()
        json.beginObject()
        json.field("ticket", ticket)
        place.write(into: &json)
        json.field("paused", admission.isPaused(campaign))
        json.endObject()
        return json.response(status: .ok)
    }

    @Sendable func setPaused(_ paused: Bool, _ request: Request, _ context: LanternRequestContext) async throws -> Response {
        let admin = try context.require(.admin)
        let campaign = try context.parameters.require("id")
        guard try engine.read({ $0.account(campaign) }) != nil else {
            throw APIError(LedgerError.campaignNotFound(campaign))
        }
        do {
            try await AdmissionPersistence.setPaused(paused, campaign: campaign, admission: admission, store: audit.store)
        } catch {
            throw APIError.changeNotSaved
        }
        try await audit.record(paused ? "campaign.pause" : "campaign.resume", by: admin, target: campaign) { _ in }
        return JSONBody.response(try view(campaign))
    }

    @Sendable func auditLog(_ request: Request, context: LanternRequestContext) async throws -> Response {
        _ = try context.require(.admin)
        let limit = request.uri.queryParameters["limit"].map { Int(String($0)) } ?? 50
        guard let limit, (1...1_000).contains(limit) else {
            throw APIError(.badRequest, "invalid_parameter", "limit must be a whole number from 1 to 1000")
        }
        return try await audit.recent(limit: limit).response(status: .ok)
    }

    @Sendable func setAdmission(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let admin = try context.require(.admin)
        let campaign = try context.parameters.require("id")
        guard try engine.read({ $0.account(campaign) }) != nil else {
            throw APIError(LedgerError.campaignNotFound(campaign))
        }
        let change = try JSONBody.decode(AdmissionRate.self, from: try await JSONBody.bytes(of: request))
        if let perMinute = change.ratePerMinute, !(perMinute >= 1 && perMinute <= 100_000_000) {
            throw APIError(
                .unprocessableContent, "invalid_field", "rate_per_minute must be 1…100000000, or null for adaptive")
        }
        do {
            try await admission.changeFixedRate(change.ratePerMinute.map { $0 / 60 }, campaign: campaign)
        } catch {
            throw APIError.changeNotSaved
        }
        try await audit.record("admission.rate", by: admin, target: campaign) { json in
            if let perMinute = change.ratePerMinute { json.field("rate_per_minute", perMinute) } else { json.null("rate_per_minute") }
        }
        var json = JSONWriter()
        json.beginObject()
        json.field("campaign", campaign)
        if let perMinute = change.ratePerMinute { json.field("rate_per_minute", perMinute) }
        json.field("mode", change.ratePerMinute == nil ? "adaptive" : "fixed")
        json.endObject()
        return json.response(status: .ok)
    }

    /// Sets the proof of work (`QueuePuzzle` bits, 0 for none) the campaign's new queue tickets ask for.
    @Sendable func setQueueProof(_ request: Request, context: LanternRequestContext) async throws -> Response {
        let admin = try context.require(.admin)
        let campaign = try context.parameters.require("id")
        guard try engine.read({ $0.account(campaign) }) != nil else {
            throw APIError(LedgerError.campaignNotFound(campaign))
        }
        let change = try JSONBody.decode(QueueProof.self, from: try await JSONBody.bytes(of: request))
        guard (0...QueuePuzzle.maxBits).contains(change.bits) else {
            throw APIError(.unprocessableContent, "invalid_field", "bits must be 0…\(QueuePuzzle.maxBits)")
        }
        do {
            try await AdmissionPersistence.setProofBits(change.bits, campaign: campaign, admission: admission, store: audit.store)
        } catch {
            throw APIError.changeNotSaved
        }
        try await audit.record("admission.proof", by: admin, target: campaign) { json in json.field("bits", Int64(change.bits)) }
        var json = JSONWriter()
        json.beginObject()
        json.field("campaign", campaign)
        json.field("bits", Int64(change.bits))
        json.endObject()
        return json.response(status: .ok)
    }
}

extension HTTPField.Name {
    /// `Idempotency-Key`, required on claims.
    static let idempotencyKey = Self("Idempotency-Key")!
    /// `Idempotent-Replayed: true` marks a replayed response.
    static let idempotentReplayed = Self("Idempotent-Replayed")!
    /// `Queue-Ticket`: an admitted waiting-room ticket, which lets a claim skip the queue.
    static let queueTicket = Self("Queue-Ticket")!
    /// `Queue-Proof`: the solution of a ticket's puzzle, when the campaign asks for proof of work.
    static let queueProof = Self("Queue-Proof")!
}

/// Body of `POST /v1/campaigns/{id}/claims`.
struct ClaimBody: Decodable {
    var referralCode: String?
    enum CodingKeys: String, CodingKey { case referralCode = "referral_code" }

    /// Decodes a claim body; an empty body or `{}` (the common claim) skips the JSON decoder.
    static func decode(_ bytes: [UInt8]) throws -> ClaimBody {
        let meaningful = bytes.filter { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        if meaningful.isEmpty || meaningful == [UInt8(ascii: "{"), UInt8(ascii: "}")] {
            return ClaimBody(referralCode: nil)
        }
        return try JSONBody.decode(ClaimBody.self, from: bytes)
    }
}

/// Body of `PUT /v1/campaigns/{id}/admission`: a fixed rate, or null for adaptive admission.
/// Body of `PUT /v1/campaigns/{id}/queue-proof`.
struct QueueProof: Decodable {
    var bits: Int
}

struct AdmissionRate: Decodable {
    var ratePerMinute: Double?
    enum CodingKeys: String, CodingKey { case ratePerMinute = "rate_per_minute" }
}

/// Body of `PATCH /v1/campaigns/{id}`: only the dates that may be extended.
struct CampaignExtension: Decodable {
    var endsAt: Date?
    var cardsExpireAt: Date?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case endsAt = "ends_at"
        case cardsExpireAt = "cards_expire_at"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        let allowed = Set(CodingKeys.allCases.map(\.rawValue))
        if let other = container.allKeys.first(where: { !allowed.contains($0.stringValue) }) {
            throw APIError(
                .unprocessableContent, "invalid_field", "'\(other.stringValue)' cannot be changed; only ends_at and cards_expire_at")
        }
        let known = try decoder.container(keyedBy: CodingKeys.self)
        endsAt = try known.decodeIfPresent(Date.self, forKey: .endsAt)
        cardsExpireAt = try known.decodeIfPresent(Date.self, forKey: .cardsExpireAt)
        if endsAt == nil && cardsExpireAt == nil {
            throw APIError(.unprocessableContent, "invalid_field", "give ends_at or cards_expire_at")
        }
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// A campaign with its live accounting.
struct CampaignView: Encodable {
    var campaign: Campaign
    var remainingFen: Int64
    var outstandingFen: Int64
    var spentFen: Int64
    var cardsIssued: Int
    var cardsExpiredAt: Date?
    var paused: Bool

    init(_ account: CampaignAccount, paused: Bool) {
        self.paused = paused
        campaign = account.campaign
        remainingFen = account.remainingFen
        outstandingFen = account.outstandingFen
        spentFen = account.spentFen
        cardsIssued = account.cardsIssued
        cardsExpiredAt = account.cardsExpiredAt
    }

    enum CodingKeys: String, CodingKey {
        case remainingFen = "remaining_fen"
        case outstandingFen = "outstanding_fen"
        case spentFen = "spent_fen"
        case cardsIssued = "cards_issued"
        case cardsExpiredAt = "cards_expired_at"
        case paused
    }

    func encode(to encoder: any Encoder) throws {
        try campaign.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(remainingFen, forKey: .remainingFen)
        try container.encode(outstandingFen, forKey: .outstandingFen)
        try container.encode(spentFen, forKey: .spentFen)
        try container.encode(cardsIssued, forKey: .cardsIssued)
        try container.encodeIfPresent(cardsExpiredAt, forKey: .cardsExpiredAt)
        try container.encode(paused, forKey: .paused)
    }
}

extension JSONWriter {
    /// `{"cards":[…]}`: a user's cards, over HTTP and from the assistant's tools.
    static func cards(_ cards: [Card]) -> JSONWriter {
        var json = JSONWriter()
        json.beginObject()
        json.beginArray("cards")
        for card in cards { json.write(card) }
        json.endArray()
        json.endObject()
        return json
    }

    /// A card as the API shows it: `{"id","campaign","kind","value_fen","issued_at","expires_at","state"}`.
    mutating func write(_ card: Card, key: String? = nil) {
        beginObject(key)
        field("id", card.id)
        field("campaign", card.campaign)
        field("kind", card.kind == .welcome ? "welcome" : "referral")
        field("value_fen", card.valueFen)
        field("issued_at", card.issuedAt)
        field("expires_at", card.expiresAt)
        field("state", card.state.rawValue)
        endObject()
    }
}

import Foundation
import HTTPTypes
import LanternApp
import LanternLedger
import LanternStorage

/// A claim's HTTP answer: status, headers and JSON body.
struct ClaimAnswer: Sendable {
    /// HTTP status.
    var status: HTTPResponse.Status
    /// Headers, `Content-Type` among them.
    var headers: HTTPFields
    /// The JSON body.
    var body: [UInt8]

    /// The headers of a JSON answer, built once and shared (copied on write).
    static let jsonHeaders: HTTPFields = [.contentType: "application/json; charset=utf-8"]

    /// The answer for an API error.
    init(_ error: APIError) {
        var headers = Self.jsonHeaders
        headers.append(contentsOf: error.headers)
        self.init(status: error.status, headers: headers, body: error.body)
    }

    /// A JSON answer.
    init(status: HTTPResponse.Status, headers: HTTPFields = jsonHeaders, body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// A claim that passed every check before the ledger: what to ask the ledger.
struct PreparedClaim: Sendable {
    /// The ledger request.
    var request: ClaimRequest
    /// Whether the body named a referral code (the answer then says whether a bonus was issued).
    var hasReferral: Bool
}

/// What `POST /v1/campaigns/{id}/claims` decides, for both ways a claim arrives: through the
/// router, and through the event-loop fast path (`ClaimFastPath`). Both ask the same questions
/// in the same order, so a claim gets the same answer whichever way it came.
struct ClaimDesk: Sendable {
    /// The ledger the prepared claims are submitted to.
    let engine: LedgerEngine
    let claims: ClaimService

    /// Creates the desk over the ledger and admission control.
    init(engine: LedgerEngine, admission: AdmissionControl) {
        self.engine = engine
        claims = ClaimService(engine: engine, admission: admission)
    }

    /// What to do with a claim after `prepare`.
    enum Step: Sendable {
        /// Answer this now (an error, or a waiting-room ticket).
        case answer(ClaimAnswer)
        /// Ask the ledger; call `finished(since:)` when it has answered.
        case submit(PreparedClaim)
    }

    /// Everything before the ledger, for a signed-in user: the rate limits, the idempotency key,
    /// the body, the campaign and the waiting room.
    func prepare(
        user: String, campaign: String, address: String?, key: String?, ticket: String?, proof: String?, body: [UInt8]
    ) -> Step {
        do throws(APIError) {
            return try check(
                user: user, campaign: campaign, address: address, key: key, ticket: ticket, proof: proof, body: body)
        } catch {
            return .answer(ClaimAnswer(error))
        }
    }

    private func check(
        user: String, campaign: String, address: String?, key: String?, ticket: String?, proof: String?,
        body bytes: [UInt8]
    ) throws(APIError) -> Step {
        do { try claims.checkRate(user: user, address: address) } catch { throw APIError(error) }
        guard let key else {
            throw APIError(.badRequest, "missing_idempotency_key", "claims need an Idempotency-Key header")
        }
        guard (1...255).contains(key.utf8.count) else {
            throw APIError(.badRequest, "invalid_idempotency_key", "Idempotency-Key must be 1-255 bytes")
        }
        let body: ClaimBody
        do {
            body = try ClaimBody.decode(bytes)
        } catch let error as APIError {
            throw error
        } catch {
            throw .malformedJSON("\(error)")
        }
        let step: ClaimService.Step
        do {
            step = try claims.prepare(
                user: user, campaign: campaign, referralCode: body.referralCode, key: key, ticket: ticket, proof: proof)
        } catch {
            throw APIError.translating(error) ?? .unavailable("\(error)")
        }
        switch step {
        case .queued(let place): return .answer(ClaimAnswer(status: .accepted, body: place.queuedAnswer().bytes))
        case .submit(let request): return .submit(PreparedClaim(request: request, hasReferral: body.referralCode != nil))
        }
    }

    /// Tells admission control how long the ledger took with a claim that `prepare` let through.
    func finished(since started: ContinuousClock.Instant) {
        claims.finished(since: started)
    }

    /// The answer for what the ledger decided.
    func answer(_ outcome: ClaimOutcome, replayed: Bool, for claim: PreparedClaim) -> ClaimAnswer {
        var answer: ClaimAnswer
        switch outcome {
        case .issued(let card, let bonus):
            var json = JSONWriter()
            json.beginObject()
            json.write(card, key: "card")
            if claim.hasReferral { json.field("referral_bonus_issued", bonus) }
            json.endObject()
            answer = ClaimAnswer(status: .created, body: json.bytes)
        case .refused(let error):
            answer = ClaimAnswer(APIError(error))
        }
        if replayed { answer.headers[.idempotentReplayed] = "true" }
        return answer
    }

    /// The answer when the ledger could not answer (the store is down or too slow).
    func answer(failure: any Error) -> ClaimAnswer {
        if let unavailable = failure as? LedgerUnavailable { return ClaimAnswer(.unavailable(unavailable.description)) }
        return ClaimAnswer(APIError(.internalServerError, "internal_error", "something went wrong on our side"))
    }
}

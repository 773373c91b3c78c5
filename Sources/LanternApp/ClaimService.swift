import LanternAdmission
import LanternLedger
import LanternStorage

/// A claim's rules before the ledger, the same for every way a claim arrives (the router, the
/// wire path, the assistant's tools): the referral code's form, the campaign, its waiting room,
/// and the ledger request with the digest that makes a retry "the same request".
///
/// Refusals are the domain's: `AdmissionRefusal`, `LedgerError.campaignNotFound`, `Refusal`
/// for a malformed referral code, `LedgerUnavailable` while the store cannot answer.
package struct ClaimService: Sendable {
    let engine: LedgerEngine
    let admission: AdmissionControl

    /// What to do with a claim the rules let through.
    package enum Step: Sendable {
        /// The campaign's waiting room holds it; the holder is told their place.
        case queued(QueuePlace)
        /// Ask the ledger; call `finished(since:)` once it has answered.
        case submit(ClaimRequest)
    }

    /// Creates the service over the ledger and admission control.
    package init(engine: LedgerEngine, admission: AdmissionControl) {
        self.engine = engine
        self.admission = admission
    }

    /// The per-user and per-address rate limits, checked before anything else is read.
    package func checkRate(user: String, address: String?) throws(AdmissionRefusal) {
        try admission.checkRate(user: user, address: address)
    }

    /// Checks a claim by `user` on `campaign` under idempotency key `key`, with the waiting
    /// room's `ticket` and its puzzle's `proof` if the holder sent them.
    package func prepare(
        user: String, campaign: String, referralCode: String?, key: String, ticket: String?, proof: String?
    ) throws -> Step {
        if let referralCode, !Identifier.isValid(referralCode) {
            throw Refusal(.invalid, "invalid_field", "referral_code must be a user id")
        }
        guard let definition = try engine.read({ $0.account(campaign)?.campaign }) else {
            throw LedgerError.campaignNotFound(campaign)
        }
        if case .queued(let place) = try admission.admit(campaign: definition, user: user, ticketText: ticket, proof: proof) {
            return .queued(place)
        }
        return .submit(
            ClaimRequest(
                campaign: campaign, user: user, referralCode: referralCode,
                claimKey: ClaimKey(key: key, digest: ClaimRequest.digest(campaign: campaign, referralCode: referralCode))))
    }

    /// Tells admission control how long the ledger took with a claim `prepare` let through.
    package func finished(since started: ContinuousClock.Instant) {
        admission.finished(latency: (ContinuousClock.now - started).secondsValue)
    }
}

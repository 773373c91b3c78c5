import Foundation
import LanternAdmission
import LanternAssistant
import LanternCatalog
import LanternLedger
import LanternOrders
import LanternStorage
import NIOCore

/// The assistant's tools run as one signed-in user, over the same services, admission and
/// ledger as the HTTP API: the offline dialogue calls it directly, and a model's or an MCP
/// client's JSON calls reach it through their edge. Every refusal is a `ToolFailure` with the
/// code the API answers.
package struct AssistantToolbox: OrderingTools {
    let user: String
    let orders: OrderService
    let stores: StoreService
    let engine: LedgerEngine
    let admission: AdmissionControl
    let eventLoop: (any EventLoop)?
    let clock: @Sendable () -> Date

    /// How far stores are looked for around a place, in metres.
    package static let searchRadius: Double = 5_000

    /// Creates the tools for `user`; `eventLoop` is the one the request arrived on.
    package init(
        user: String, orders: OrderService, stores: StoreService, engine: LedgerEngine, admission: AdmissionControl,
        eventLoop: (any EventLoop)?, clock: @escaping @Sendable () -> Date
    ) {
        self.user = user
        self.orders = orders
        self.stores = stores
        self.engine = engine
        self.admission = admission
        self.eventLoop = eventLoop
        self.clock = clock
    }

    package func findStores(near point: GeoPoint, query: String?, limit: Int) async throws(ToolFailure) -> [NearbyStore] {
        try await run { try stores.nearby(point, radius: Self.searchRadius, limit: limit, text: query?.lowercased()) }
    }

    package func menu(of merchantID: String) async throws(ToolFailure) -> (store: Store, entries: [MenuEntry]) {
        try await run {
            let store = try stores.store(id: merchantID)
            return (store, try stores.menu(of: store))
        }
    }

    package func cards() async throws(ToolFailure) -> [Card] {
        try await run { try await engine.cards(of: user) }
    }

    /// Claims through the same rules and ledger as `POST …/claims`, under one idempotency key
    /// per campaign, so that asking again answers the card already issued.
    package func claimCard(campaign id: String?, referralCode: String?) async throws(ToolFailure) -> CardClaim {
        try await run {
            let claims = ClaimService(engine: engine, admission: admission)
            try claims.checkRate(user: user, address: nil)
            let now = clock()
            let campaign: String? =
                try id
                ?? engine.read { book in
                    book.allAccounts.first { $0.campaign.startsAt <= now && now < $0.campaign.endsAt && $0.cardsExpiredAt == nil }?
                        .campaign.id
                }
            guard let campaign else { throw ToolFailure(code: "campaign_not_found", message: "no campaign is running") }
            switch try claims.prepare(
                user: user, campaign: campaign, referralCode: referralCode, key: "assistant-claim", ticket: nil, proof: nil)
            {
            case .queued(let place):
                return .queued(place)
            case .submit(let request):
                let started = ContinuousClock.now
                defer { claims.finished(since: started) }
                switch try await engine.claim(request, eventLoop: eventLoop).outcome {
                case .issued(let card, _): return .issued(card)
                case .refused(let error): throw error
                }
            }
        }
    }

    package func quote(_ request: OrderRequest) async throws(ToolFailure) -> Quote {
        try await run(holding: request.cardID) { try orders.quote(request, user: user) }
    }

    package func place(_ request: OrderRequest, idempotencyKey key: String) async throws(ToolFailure) -> Order {
        guard (1...255).contains(key.utf8.count) else {
            throw ToolFailure(
                code: "missing_field",
                message: "idempotency_key is required: a string unique to this order, sent again when retrying it, so that a retry returns the order instead of placing a second one")
        }
        return try await run {
            try admission.checkRate(user: user, address: nil)
            return try await orders.place(
                request, key: key, digest: OrderService.digest(of: request), user: user, eventLoop: eventLoop
            ).0
        }
    }

    package func order(_ id: String) async throws(ToolFailure) -> Order {
        try await run { try await orders.order(id, for: Identity(userID: user, role: .user)) }
    }

    package func cancel(_ id: String) async throws(ToolFailure) -> Order {
        try await run { try await orders.change(id, to: .cancelled, by: .user(user), eventLoop: eventLoop) }
    }

    /// Runs `body` once the user's cards and orders (and `card`, when one is named) are in
    /// memory, giving every refusal the code and message the HTTP API answers for it.
    private func run<T>(holding card: String? = nil, _ body: () async throws -> T) async throws(ToolFailure) -> T {
        do {
            try await engine.prepareUser(user, holding: card)
            return try await body()
        } catch {
            throw Self.failure(error)
        }
    }

    /// The tool form of an error the services throw.
    package static func failure(_ error: any Error) -> ToolFailure {
        switch error {
        case let failure as ToolFailure: failure
        case let error as LedgerError: ToolFailure(code: error.code, message: error.message)
        case let refusal as Refusal: ToolFailure(code: refusal.code, message: refusal.message)
        case let refusal as AdmissionRefusal: ToolFailure(code: refusal.code, message: refusal.message)
        case let error as LedgerUnavailable: ToolFailure(code: "store_unavailable", message: error.description)
        default: ToolFailure(code: "tool_failed", message: "\(error)")
        }
    }
}

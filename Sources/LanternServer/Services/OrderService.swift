import Crypto
import Foundation
import LanternLedger
import LanternOrders
import LanternStorage
import NIOCore

/// An order priced and routed for a user, before it is placed.
struct Quote: Sendable {
    var priced: PricedOrder
    var cardID: String?
    /// What the card takes off, as the ledger computes it.
    var discountFen: Int64
    var totalFen: Int64 { priced.subtotalFen + priced.deliveryFeeFen - discountFen }
}

/// Quotes, orders and their changes: the rules the API, MCP and the assistant's tools share.
/// Prices come from the store's menu, routing from `OrderDesk`, discounts and placing from the
/// ledger; callers translate what it answers.
struct OrderService: Sendable {
    let engine: LedgerEngine
    let stores: StoreService
    let events: OrderEvents
    /// The experiments whose variants route some users' orders.
    var experiments: ExperimentService? = nil
    let clock: @Sendable () -> Date

    /// Prices and routes a request body for `user`, with their card's discount.
    func quote(_ body: OrderBody, user: String) throws -> Quote {
        let request = try body.request()
        let now = clock()
        var loadError: (any Error)?
        let directory = stores.directory
        let policy = experiments?.routing(cardID: request.cardID, user: user) ?? .soonest
        let routed = OrderDesk.route(request, in: directory, nowMs: now.millisecondsSince1970, policy: policy) { store in
            do { return try stores.load(of: store) } catch {
                loadError = error
                return StoreLoad(backlogCups: 0, paused: true)
            }
        }
        if let loadError { throw loadError }
        let priced: PricedOrder
        switch routed {
        case .success(let value): priced = value
        case .failure(let problem):
            var message = problem.message
            // A store the customer named cannot take it now: say which store of its brand nearby can.
            if let id = request.merchantID, let named = directory.store(id: id),
                ["store_paused", "store_busy", "store_closed", "out_of_stock"].contains(problem.code)
            {
                var elsewhere = request
                elsewhere.merchantID = nil
                elsewhere.brand = named.brand
                let alternative = OrderDesk.route(elsewhere, in: directory, nowMs: now.millisecondsSince1970) { store in
                    store.id == named.id
                        ? StoreLoad(backlogCups: 0, paused: true)
                        : ((try? stores.load(of: store)) ?? StoreLoad(backlogCups: 0, paused: true))
                }
                if case .success(let other) = alternative {
                    message += "; \(OrderDesk.alternativeMarker)\(other.store.name) (\(other.store.id)), \(Int(other.meters.rounded())) m from the address"
                }
            }
            throw APIError(problem.code == "merchant_not_found" ? .notFound : .unprocessableContent, problem.code, message)
        }
        var discount: Int64 = 0
        if let card = request.cardID {
            let amount = priced.subtotalFen + priced.deliveryFeeFen
            switch try engine.read({ $0.cardDiscount(cardID: card, user: user, amountFen: amount, now: now) }) {
            case .success(let value): discount = value
            case .failure(let error): throw APIError(error)
            }
        }
        return Quote(priced: priced, cardID: request.cardID, discountFen: discount)
    }

    /// Prices, routes and places an order for `user`; a retry with the same key and body
    /// answers the order it placed (`replayed`), whatever the stores' load is now.
    func place(_ body: OrderBody, key: String, digest: BodyDigest, user: String, eventLoop: (any EventLoop)?)
        async throws -> (Order, replayed: Bool)
    {
        try await engine.prepareUser(user, holding: body.cardID)
        let draft: OrderDraft
        if let existing = try engine.read({ $0.orders(of: user).first { $0.draft.idempotency.key == key } }) {
            guard existing.draft.idempotency.digest == digest else { throw APIError(LedgerError.idempotencyKeyReused) }
            // A retry (perhaps of an answer lost to a database failover): not priced again, since
            // its card is spent now; the ledger replays the order once it is durable.
            draft = existing.draft
        } else {
            let priced = try quote(body, user: user).priced
            draft = OrderDraft(
                id: Self.newOrderID(), user: user, merchantID: priced.store.id, items: priced.items,
                cardID: body.cardID, deliveryFeeFen: priced.deliveryFeeFen, address: try body.address.value(),
                promisedAtMs: priced.promisedAtMs, idempotency: ClaimKey(key: key, digest: digest))
        }
        let (result, replayed) = try await engine.placeOrder(draft, eventLoop: eventLoop)
        switch result {
        case .success(let order):
            if !replayed { await events.announce(order) }
            return (order, replayed)
        case .failure(let error):
            throw APIError(error)
        }
    }

    /// Moves an order on behalf of `actor` and tells the live streams.
    func change(_ id: String, to state: OrderState, by actor: OrderActor, eventLoop: (any EventLoop)?) async throws -> Order {
        try await events.change(id, to: state, by: actor, on: engine, eventLoop: eventLoop)
    }

    /// A fresh order id: `o-` and 16 random hex digits.
    static func newOrderID() -> String {
        var random = SystemRandomNumberGenerator()
        let value = random.next() as UInt64
        let hex = String(value, radix: 16)
        return "o-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// What identifies an order's request for its idempotency key: the SHA-256 of its body.
    static func digest(_ bytes: [UInt8]) -> BodyDigest {
        let hash = Array(SHA256.hash(data: bytes))
        func word(_ offset: Int) -> UInt64 { hash[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        return BodyDigest(high: word(0), low: word(8))
    }

    /// The order, when `viewer` may see it: its user, its store's merchant, or an admin.
    /// Anyone else's order is as absent as one that does not exist.
    func order(_ id: String, for viewer: Identity) async throws -> Order {
        try await engine.prepareOrder(id)
        guard let order = try engine.read({ $0.order(id) }),
            viewer.role == .admin || (viewer.role == .user && order.draft.user == viewer.userID)
                || (viewer.role == .merchant && order.draft.merchantID == viewer.merchantID)
        else { throw APIError(LedgerError.orderNotFound(id)) }
        return order
    }
}

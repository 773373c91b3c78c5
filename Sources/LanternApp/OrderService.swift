import Crypto
import Foundation
import LanternLedger
import LanternOrders
import LanternStorage
import NIOCore

/// Quotes, orders and their changes: the rules the API, MCP and the assistant's tools share.
/// Prices come from the store's menu, routing from `OrderDesk`, discounts and placing from the
/// ledger; callers translate what it answers.
package struct OrderService: Sendable {
    let engine: LedgerEngine
    let stores: StoreService
    let events: OrderEvents
    /// The experiments whose variants route some users' orders.
    var experiments: ExperimentService? = nil
    let clock: @Sendable () -> Date

    /// Creates the service; with `experiments`, their routing variants apply to their users.
    package init(
        engine: LedgerEngine, stores: StoreService, events: OrderEvents, experiments: ExperimentService? = nil,
        clock: @escaping @Sendable () -> Date
    ) {
        self.engine = engine
        self.stores = stores
        self.events = events
        self.experiments = experiments
        self.clock = clock
    }

    /// Prices and routes `request` for `user`, with their card's discount.
    package func quote(_ request: OrderRequest, user: String) throws -> Quote {
        let now = clock()
        let priced = try route(request, user: user, now: now)
        var discount: Int64 = 0
        if let card = request.cardID {
            let amount = priced.subtotalFen + priced.deliveryFeeFen
            switch try engine.read({ $0.cardDiscount(cardID: card, user: user, amountFen: amount, now: now) }) {
            case .success(let value): discount = value
            case .failure(let error): throw error
            }
        }
        return Quote(priced: priced, cardID: request.cardID, discountFen: discount)
    }

    /// Routes `request` to a store (by the user's routing variant) and prices it from its menu;
    /// a refusal names, for a store the customer named, another of its brand that can take it.
    private func route(_ request: OrderRequest, user: String, now: Date) throws -> PricedOrder {
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
            throw Refusal(problem.code == "merchant_not_found" ? .notFound : .invalid, problem.code, message)
        }
        return priced
    }

    /// Prices, routes and places an order for `user`; a retry with the same key and body
    /// answers the order it placed (`replayed`), whatever the stores' load is now.
    package func place(_ request: OrderRequest, key: String, digest: BodyDigest, user: String, eventLoop: (any EventLoop)?)
        async throws -> (Order, replayed: Bool)
    {
        try await engine.prepareUser(user, holding: request.cardID)
        var draft: OrderDraft
        if let existing = try engine.read({ $0.orders(of: user).first { $0.draft.idempotency.key == key } }) {
            // A retry (perhaps of an answer lost to a database failover) is not priced again, since
            // its card is spent now. The ledger alone judges it: the same body replays the order
            // once it is durable, another body under the key is refused.
            draft = existing.draft
            draft.idempotency.digest = digest
        } else {
            // The card's discount is the ledger's to decide, with the placement.
            let priced = try route(request, user: user, now: clock())
            draft = OrderDraft(
                id: Self.newOrderID(), user: user, merchantID: priced.store.id, items: priced.items,
                cardID: request.cardID, deliveryFeeFen: priced.deliveryFeeFen, address: request.address,
                promisedAtMs: priced.promisedAtMs, idempotency: ClaimKey(key: key, digest: digest))
        }
        let (result, replayed) = try await engine.placeOrder(draft, eventLoop: eventLoop)
        switch result {
        case .success(let order):
            if !replayed { await events.announce(order) }
            return (order, replayed)
        case .failure(let error):
            throw error
        }
    }

    /// Moves an order on behalf of `actor` and tells the live streams.
    package func change(_ id: String, to state: OrderState, by actor: OrderActor, eventLoop: (any EventLoop)?) async throws -> Order {
        try await events.change(id, to: state, by: actor, on: engine, eventLoop: eventLoop)
    }

    /// A fresh order id: `o-` and 16 random hex digits.
    package static func newOrderID() -> String {
        var random = SystemRandomNumberGenerator()
        let value = random.next() as UInt64
        let hex = String(value, radix: 16)
        return "o-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// What identifies an order's request for its idempotency key: the SHA-256 of its body.
    package static func digest(_ bytes: [UInt8]) -> BodyDigest {
        let hash = Array(SHA256.hash(data: bytes))
        func word(_ offset: Int) -> UInt64 { hash[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        return BodyDigest(high: word(0), low: word(8))
    }

    /// What identifies an order's request when it did not come as a body of bytes (the
    /// assistant's tools): the SHA-256 of each of its fields in turn, each ended by a unit separator.
    package static func digest(of request: OrderRequest) -> BodyDigest {
        var fields = [request.merchantID ?? "-", request.brand ?? "-", request.cardID ?? "-"]
        fields += ["\(request.address.lat)", "\(request.address.lng)", request.address.text]
        for line in request.items {
            fields += [
                line.drink, line.size?.rawValue ?? "-", line.sugar.map { "\($0)" } ?? "-", line.ice?.rawValue ?? "-",
                line.toppings.map(\.rawValue).joined(separator: ","), "\(line.quantity)",
            ]
        }
        return digest(Array(fields.map { $0 + "\u{1F}" }.joined().utf8))
    }

    /// The order, when `viewer` may see it: its user, its store's merchant, or an admin.
    /// Anyone else's order is as absent as one that does not exist.
    package func order(_ id: String, for viewer: Identity) async throws -> Order {
        try await engine.prepareOrder(id)
        guard let order = try engine.read({ $0.order(id) }),
            viewer.role == .admin || (viewer.role == .user && order.draft.user == viewer.userID)
                || (viewer.role == .merchant && order.draft.merchantID == viewer.merchantID)
        else { throw LedgerError.orderNotFound(id) }
        return order
    }
}

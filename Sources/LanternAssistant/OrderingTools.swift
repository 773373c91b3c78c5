import LanternAdmission
import LanternCatalog
import LanternLedger
import LanternOrders

/// A tool's refusal, with the stable code the HTTP API answers for the same refusal; nothing
/// changed.
public struct ToolFailure: Error, Sendable, Equatable {
    /// Stable machine-readable code, e.g. `store_busy`.
    public var code: String
    /// What it means, in English; the dialogue says it in the customer's language.
    public var message: String

    /// Creates a failure.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// What claiming a card came to: the card, or a place in the campaign's waiting room.
public enum CardClaim: Sendable {
    /// The card was issued.
    case issued(Card)
    /// The campaign's waiting room holds the claim; the place says when to ask again.
    case queued(QueuePlace)
}

/// The assistant's tools as Swift calls, run as one signed-in user. The offline dialogue calls
/// them directly; a model's and an MCP client's JSON tool calls are translated to them at those
/// edges. Every rule (prices, caps, ownership) is enforced behind this, whatever the caller asks.
public protocol OrderingTools: Sendable {
    /// Open stores near `point`, nearest first, matching `query` (a brand or drink) if given.
    func findStores(near point: GeoPoint, query: String?, limit: Int) async throws(ToolFailure) -> [NearbyStore]
    /// A store's menu, priced by the store, with what is available now.
    func menu(of merchantID: String) async throws(ToolFailure) -> (store: Store, entries: [MenuEntry])
    /// The user's cards, every state.
    func cards() async throws(ToolFailure) -> [Card]
    /// Claims the user's welcome card in `campaign` (nil: the one running now).
    func claimCard(campaign: String?, referralCode: String?) async throws(ToolFailure) -> CardClaim
    /// Prices and routes an order with its card's discount; places nothing.
    func quote(_ request: OrderRequest) async throws(ToolFailure) -> Quote
    /// Places an order; the same key with the same request answers the order it placed.
    func place(_ request: OrderRequest, idempotencyKey: String) async throws(ToolFailure) -> Order
    /// One of the user's orders.
    func order(_ id: String) async throws(ToolFailure) -> Order
    /// Cancels one of the user's orders before pickup; its card goes back.
    func cancel(_ id: String) async throws(ToolFailure) -> Order
}

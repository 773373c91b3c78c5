import Foundation
import LanternCatalog

/// Where an order is in its life.
public enum OrderState: String, Sendable, Codable, CaseIterable {
    /// Paid and waiting for the store.
    case placed
    /// The store took it.
    case accepted
    /// Made, waiting at the counter.
    case ready
    /// A rider has it.
    case pickedUp = "picked_up"
    /// At the door.
    case delivered
    /// The store refused it.
    case rejected
    /// The customer cancelled it before pickup.
    case cancelled

    /// Whether the store still has to make it (placed or accepted).
    public var isUnmade: Bool { self == .placed || self == .accepted }

    /// Whether nothing can happen to the order any more.
    public var isFinal: Bool { self == .delivered || self == .rejected || self == .cancelled }

    /// Whether an order in this state may move to `next`.
    public func canMove(to next: OrderState) -> Bool {
        switch (self, next) {
        case (.placed, .accepted), (.placed, .rejected), (.placed, .cancelled): true
        case (.accepted, .ready), (.accepted, .rejected), (.accepted, .cancelled): true
        case (.ready, .pickedUp), (.ready, .cancelled): true
        case (.pickedUp, .delivered): true
        default: false
        }
    }
}

/// What happened to an order's card when the order was rejected or cancelled.
public enum CardSettlement: UInt8, Sendable, Codable {
    /// The card went back to its owner, active again.
    case returned = 1
    /// The card could not be returned (expired, or its released value was taken); its value went back to the budget.
    case released = 2
}

/// Where to bring an order.
public struct DeliveryAddress: Sendable, Equatable, Codable {
    /// Latitude, degrees.
    public var lat: Double
    /// Longitude, degrees.
    public var lng: Double
    /// The address as the customer wrote it.
    public var text: String

    /// Creates an address.
    public init(lat: Double, lng: Double, text: String) {
        self.lat = lat
        self.lng = lng
        self.text = text
    }

    /// Degrees of latitude in a cell of about 500 m, the grain exports and erased addresses keep.
    public static let cellLatitudeStep = 0.0045
    /// Degrees of longitude in such a cell, scaled at 31°N, where the demo city lies.
    public static let cellLongitudeStep = 0.0045 / cos(31 * Double.pi / 180)

    /// The address's cell of about 500 m. A point that is no place (not finite, or beyond any
    /// cell's number) gets the nearest number a cell has, or 0, rather than stopping a reader.
    public var cell: DeliveryCell {
        DeliveryCell(row: Self.cellNumber(lat / Self.cellLatitudeStep), column: Self.cellNumber(lng / Self.cellLongitudeStep))
    }

    private static func cellNumber(_ steps: Double) -> Int64 {
        guard steps.isFinite else { return 0 }
        return Int64(exactly: steps.rounded(.down)) ?? (steps < 0 ? .min : .max)
    }

    /// The address once retention has erased it: no text, the point at its cell's centre.
    public var erased: DeliveryAddress {
        let centre = cell.centre
        return DeliveryAddress(lat: centre.lat, lng: centre.lng, text: "")
    }

    /// Whether retention has erased it already.
    public var isErased: Bool { text.isEmpty && self == erased }
}

/// A cell of about 500 m on the grid exports and erased addresses keep, by row and column.
public struct DeliveryCell: Sendable, Hashable {
    /// Cells of latitude from the equator.
    public var row: Int64
    /// Cells of longitude from the prime meridian.
    public var column: Int64

    /// Creates a cell.
    public init(row: Int64, column: Int64) {
        self.row = row
        self.column = column
    }

    /// Its south-west corner, degrees.
    public var corner: (lat: Double, lng: Double) {
        (Double(row) * DeliveryAddress.cellLatitudeStep, Double(column) * DeliveryAddress.cellLongitudeStep)
    }

    /// Its centre, degrees.
    public var centre: (lat: Double, lng: Double) {
        ((Double(row) + 0.5) * DeliveryAddress.cellLatitudeStep, (Double(column) + 0.5) * DeliveryAddress.cellLongitudeStep)
    }
}

/// An order as the server priced it, before the ledger applies the card.
public struct OrderDraft: Sendable, Equatable {
    /// New order id, unique across nodes.
    public var id: String
    /// The ordering user.
    public var user: String
    /// The store making it.
    public var merchantID: String
    /// Priced lines.
    public var items: [PricedLine]
    /// Card paying for it, if any.
    public var cardID: String?
    /// Delivery fee in fen.
    public var deliveryFeeFen: Int64
    /// Where to bring it.
    public var address: DeliveryAddress
    /// When the customer was promised it, milliseconds since 1970.
    public var promisedAtMs: Int64
    /// The request's idempotency key and body digest.
    public var idempotency: ClaimKey

    /// Creates a draft.
    public init(
        id: String, user: String, merchantID: String, items: [PricedLine], cardID: String?, deliveryFeeFen: Int64,
        address: DeliveryAddress, promisedAtMs: Int64, idempotency: ClaimKey
    ) {
        self.id = id
        self.user = user
        self.merchantID = merchantID
        self.items = items
        self.cardID = cardID
        self.deliveryFeeFen = deliveryFeeFen
        self.address = address
        self.promisedAtMs = promisedAtMs
        self.idempotency = idempotency
    }

    /// Sum of the lines, in fen.
    public var subtotalFen: Int64 { items.reduce(0) { $0 + $1.totalFen } }
}

/// A placed order.
public struct Order: Sendable, Equatable {
    /// Everything the server decided when it was placed.
    public var draft: OrderDraft
    /// What the card paid: up to its value, never more than subtotal plus delivery fee.
    public var discountFen: Int64
    /// When it was placed, milliseconds since 1970.
    public var placedAtMs: Int64
    /// Where it is now.
    public var state: OrderState
    /// When it last changed state, milliseconds since 1970.
    public var updatedAtMs: Int64
    /// What happened to the card, once the order was rejected or cancelled.
    public var settlement: CardSettlement?

    /// Creates an order.
    public init(
        draft: OrderDraft, discountFen: Int64, placedAtMs: Int64, state: OrderState = .placed, updatedAtMs: Int64? = nil,
        settlement: CardSettlement? = nil
    ) {
        self.draft = draft
        self.discountFen = discountFen
        self.placedAtMs = placedAtMs
        self.state = state
        self.updatedAtMs = updatedAtMs ?? placedAtMs
        self.settlement = settlement
    }

    /// The order id.
    public var id: String { draft.id }
    /// Sum of the lines, in fen.
    public var subtotalFen: Int64 { draft.subtotalFen }
    /// Cups in the order.
    public var cups: Int { draft.items.reduce(0) { $0 + $1.line.quantity } }
    /// What the customer pays: subtotal + delivery fee − discount.
    public var totalFen: Int64 { draft.subtotalFen + draft.deliveryFeeFen - discountFen }
}

/// A change of an order's state, as the journal records it.
public struct OrderChange: Sendable, Equatable {
    /// The order.
    public var orderID: String
    /// Its new state.
    public var state: OrderState
    /// When, milliseconds since 1970.
    public var atMs: Int64
    /// For a rejection or cancellation of an order paid with a card: what happened to the card.
    public var settlement: CardSettlement?

    /// Creates a change.
    public init(orderID: String, state: OrderState, atMs: Int64, settlement: CardSettlement?) {
        self.orderID = orderID
        self.state = state
        self.atMs = atMs
        self.settlement = settlement
    }
}

/// Who asks for an order's state to change; the ledger checks they may.
public enum OrderActor: Sendable, Equatable {
    /// The customer who placed it.
    case user(String)
    /// The store making it.
    case merchant(String)
    /// Dispatch or an operator: riders' pickups and deliveries.
    case operations
}

/// What an order placement came to, before anything is durable.
public enum OrderDecision: Sendable, Equatable {
    /// The idempotency key was seen before with the same body: the order it placed, recorded in `batch`.
    case replay(Order, batch: UInt64)
    /// A fresh decision.
    case decided(Result<Order, LedgerError>)
}

/// The card discount arithmetic, shared by quotes and placements.
public enum CardDiscount {
    /// A card pays up to its value and never more than what the order costs.
    public static func discount(cardValueFen: Int64, subtotalFen: Int64, deliveryFeeFen: Int64) -> Int64 {
        min(cardValueFen, subtotalFen + deliveryFeeFen)
    }
}

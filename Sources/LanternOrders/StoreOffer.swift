import LanternCatalog

/// A store found near a place, with the work waiting there.
public struct NearbyStore: Sendable {
    /// The store.
    public var store: Store
    /// Straight-line distance from the place, in metres.
    public var meters: Double
    /// Cups ordered there and not made yet.
    public var backlogCups: Int
    /// When one cup ordered now would be ready.
    public var readyAtMs: Int64

    /// Creates a found store.
    public init(store: Store, meters: Double, backlogCups: Int, readyAtMs: Int64) {
        self.store = store
        self.meters = meters
        self.backlogCups = backlogCups
        self.readyAtMs = readyAtMs
    }
}

/// One drink of a store's menu, priced by the store, with what is available now.
public struct MenuEntry: Sendable {
    /// A topping on offer, with its price at this store.
    public struct Topping: Sendable {
        /// Canonical topping name.
        public var name: String
        /// Its Chinese name.
        /// Its Chinese name.
    public var chinese: String
        /// Its price at this store, in fen.
        public var priceFen: Int64

        /// Creates a topping on offer.
        public init(name: String, chinese: String, priceFen: Int64) {
            self.name = name
            self.chinese = chinese
            self.priceFen = priceFen
        }
    }

    /// Canonical drink name.
    public var drink: String
    public var chinese: String
    /// A medium cup's price, in fen.
    public var mediumFen: Int64
    /// A large cup's price, in fen.
    public var largeFen: Int64
    /// Sugar levels it can be made with.
    public var sugar: [String]
    /// Ice and temperatures it can be made with.
    public var ice: [String]
    /// Toppings on offer for it.
    public var toppings: [Topping]
    /// Whether the store can make it now (nothing in it is sold out).
    public var available: Bool

    /// Creates a menu entry.
    public init(
        drink: String, chinese: String, mediumFen: Int64, largeFen: Int64, sugar: [String], ice: [String], toppings: [Topping],
        available: Bool
    ) {
        self.drink = drink
        self.chinese = chinese
        self.mediumFen = mediumFen
        self.largeFen = largeFen
        self.sugar = sugar
        self.ice = ice
        self.toppings = toppings
        self.available = available
    }
}

/// An order priced and routed for a user, before it is placed.
public struct Quote: Sendable, Equatable {
    /// The order priced and routed to its store.
    public var priced: PricedOrder
    /// The card it is paid with, if any.
    public var cardID: String?
    /// What the card takes off, as the ledger computes it.
    public var discountFen: Int64
    /// What the customer pays.
    public var totalFen: Int64 { priced.subtotalFen + priced.deliveryFeeFen - discountFen }

    /// Creates a quote.
    public init(priced: PricedOrder, cardID: String?, discountFen: Int64) {
        self.priced = priced
        self.cardID = cardID
        self.discountFen = discountFen
    }
}

#if canImport(Glibc)
import Glibc
#endif
import LanternCatalog
import LanternLedger

/// Every store of the city with a geo index over them: lookups by id and nearby search.
public struct MerchantDirectory: Sendable {
    /// The stores, by position.
    public let stores: [Store]
    private let byID: [String: Int]
    private let index: GeoIndex

    /// Indexes `stores`.
    public init(stores: [Store]) {
        self.stores = stores
        byID = Dictionary(uniqueKeysWithValues: stores.enumerated().map { ($1.id, $0) })
        index = GeoIndex(points: stores.map(\.location))
    }

    /// The store with that id.
    public func store(id: String) -> Store? { byID[id].map { stores[$0] } }

    /// Stores within `radius` metres of `point`, nearest first, at most `limit`, that pass `filter`.
    public func nearby(
        _ point: GeoPoint, radius: Double, limit: Int, where filter: (Store) -> Bool = { _ in true }
    ) -> [(store: Store, meters: Double)] {
        // Ask for more than needed so filtering still leaves `limit`, widening until the radius is covered.
        var asked = max(limit * 4, 32)
        while true {
            let found = index.nearest(to: point, k: asked, within: radius)
            var result: [(store: Store, meters: Double)] = []
            for hit in found where result.count < limit && filter(stores[hit.id]) {
                result.append((stores[hit.id], hit.meters))
            }
            if result.count >= limit || found.count < asked || asked >= stores.count { return result }
            asked *= 4
        }
    }
}

/// A customer's order as asked for, before pricing.
public struct OrderRequest: Sendable, Equatable, Codable {
    /// The store asked for, if any.
    public var merchantID: String?
    /// A brand asked for, if no store was.
    public var brand: String?
    /// The lines.
    public var items: [OrderLine]
    /// The card to pay with, if any.
    public var cardID: String?
    /// Where to bring it.
    public var address: DeliveryAddress

    /// Creates a request.
    public init(merchantID: String?, brand: String?, items: [OrderLine], cardID: String?, address: DeliveryAddress) {
        self.merchantID = merchantID
        self.brand = brand
        self.items = items
        self.cardID = cardID
        self.address = address
    }
}

/// An order priced from one store's menu, with its predicted times; the card is applied by the ledger.
public struct PricedOrder: Sendable, Equatable {
    /// The store that would make it.
    public var store: Store
    /// Metres from the store to the address.
    public var meters: Double
    /// Priced lines.
    public var items: [PricedLine]
    /// Sum of the lines, in fen.
    public var subtotalFen: Int64
    /// Delivery fee, in fen.
    public var deliveryFeeFen: Int64
    /// When the store would have it ready, milliseconds since 1970.
    public var readyAtMs: Int64
    /// When it would be at the door, milliseconds since 1970.
    public var promisedAtMs: Int64
}

/// Why an order cannot be priced or routed.
public enum OrderProblem: Error, Sendable, Equatable {
    /// No items, or too many.
    case badItemCount
    /// An item the catalog refuses, with its position.
    case item(Int, OrderLineProblem)
    /// An item the chosen store does not sell.
    case notOnMenu(Int, drink: String, store: String)
    /// A drink or topping the store has run out of.
    case outOfStock(Int, item: String, store: String)
    /// No store with that id.
    case unknownStore(String)
    /// The store is closed now.
    case storeClosed(String)
    /// The store is paused by its merchant, or by itself past its backlog limit.
    case storePaused(String)
    /// The store would pass its backlog limit with this order; it frees up in about `waitMinutes`.
    case storeBusy(String, waitMinutes: Int)
    /// Every store in reach is at capacity; the soonest frees up in about `waitMinutes`.
    case allBusy(waitMinutes: Int)
    /// The address is farther from the store than riders go.
    case outOfRange(store: String, meters: Int)
    /// No open store within range sells everything asked for.
    case noStoreNearby

    /// Stable machine-readable code for the API.
    public var code: String {
        switch self {
        case .badItemCount: "invalid_items"
        case .item: "invalid_item"
        case .notOnMenu: "not_on_menu"
        case .outOfStock: "out_of_stock"
        case .unknownStore: "merchant_not_found"
        case .storeClosed: "store_closed"
        case .storePaused: "store_paused"
        case .storeBusy: "store_busy"
        case .allBusy: "stores_at_capacity"
        case .outOfRange: "out_of_delivery_range"
        case .noStoreNearby: "no_store_nearby"
        }
    }

    /// Human-readable explanation, naming the item and why.
    public var message: String {
        switch self {
        case .badItemCount: return "an order has 1 to \(OrderDesk.maxItems) items"
        case .item(let index, let problem):
            let why: String
            switch problem {
            case .unknownDrink(let drink): why = "there is no drink '\(drink)'"
            case .iceNotAllowed(let drink, let ice): why = "\(drink) cannot be made \(ice.rawValue)"
            case .toppingNotAllowed(let drink, let topping): why = "\(drink) takes no \(topping.rawValue)"
            case .sugarNotAllowed(let drink, let sugar): why = "\(drink) cannot be made with sugar \(sugar)"
            case .badQuantity(let quantity): why = "quantity must be 1 to \(Catalog.maximumCupsPerLine), not \(quantity)"
            }
            return "items[\(index)]: \(why)"
        case .notOnMenu(let index, let drink, let store): return "items[\(index)]: \(store) does not sell \(drink)"
        case .outOfStock(let index, let item, let store): return "items[\(index)]: \(store) has run out of \(item)"
        case .unknownStore(let id): return "no store with id '\(id)'"
        case .storeClosed(let id): return "store '\(id)' is closed now"
        case .storePaused(let id): return "store '\(id)' has paused taking orders"
        case .storeBusy(let id, let wait):
            return "store '\(id)' has as many drinks waiting as it takes; it can take this order in about \(wait) minutes"
        case .allBusy(let wait):
            return "every store in reach is at capacity; the soonest can take this order in about \(wait) minutes"
        case .outOfRange(let id, let meters): return "the address is \(meters) m from store '\(id)'; riders go \(Int(OrderDesk.maxDeliveryMeters)) m"
        case .noStoreNearby: return "no open store within \(Int(OrderDesk.maxDeliveryMeters)) m sells everything in this order"
        }
    }
}

/// What the desk needs to know about a store right now.
public struct StoreLoad: Sendable, Equatable {
    /// Cups accepted and not yet made.
    public var backlogCups: Int
    /// Paused by its merchant.
    public var paused: Bool
    /// Drinks and toppings (canonical names) it has run out of.
    public var outOfStock: Set<String>

    /// Creates a load.
    public init(backlogCups: Int, paused: Bool, outOfStock: Set<String> = []) {
        self.backlogCups = backlogCups
        self.paused = paused
        self.outOfStock = outOfStock
    }
}

/// When a store stops taking orders on its own: above `limitMinutes` of work waiting, until it
/// is back under `resumeMinutes` (hysteresis, so it does not flap open and shut).
public struct AutoPause: Sendable, Equatable {
    /// Minutes of backlog at which the store pauses.
    public var limitMinutes: Double
    /// Minutes of backlog under which a paused store resumes.
    public var resumeMinutes: Double

    /// The default: pause past 30 minutes of work, resume under 20.
    public static let standard = AutoPause(limitMinutes: 30, resumeMinutes: 20)

    /// Creates a rule.
    public init(limitMinutes: Double, resumeMinutes: Double) {
        self.limitMinutes = limitMinutes
        self.resumeMinutes = resumeMinutes
    }

    /// Minutes the store needs for `backlogCups` at its rate.
    public static func backlogMinutes(_ backlogCups: Int, store: Store) -> Double {
        Double(backlogCups) * 60 / Double(max(store.cupsPerHour, 1))
    }

    /// Whether the store is auto-paused now, given whether it was and its backlog.
    public func paused(wasPaused: Bool, backlogMinutes: Double) -> Bool {
        wasPaused ? backlogMinutes >= resumeMinutes : backlogMinutes >= limitMinutes
    }
}

/// Prices orders from store menus, predicts ready and delivery times, and picks the store.
public enum OrderDesk {
    /// Most lines in one order.
    public static let maxItems = 20
    /// Where a refusal for a named store names the nearest store of its brand that can take the
    /// order instead, as `…; <marker><name> (<id>), <metres> m from the address`.
    public static let alternativeMarker = "nearest of the same brand that can take it: "
    /// Farthest a rider takes an order, in metres.
    public static let maxDeliveryMeters = 8_000.0
    /// Base delivery fee, in fen, covering the first 3 km.
    public static let baseDeliveryFeeFen: Int64 = 300
    /// Extra fee per started kilometre beyond 3 km, in fen.
    public static let perKilometreFeeFen: Int64 = 100
    /// Rider speed used for promises, metres per second (15 km/h through a city).
    public static let riderMetersPerSecond = 4.2
    /// Minutes a promise allows between the drink being ready and the rider riding off with it.
    public static let handoverMinutes: Int64 = 3

    /// The delivery fee for a trip of `meters`.
    public static func deliveryFee(meters: Double) -> Int64 {
        let extraKilometres = max(0, Int64((meters - 3_000) / 1_000 + 0.999_999))
        return baseDeliveryFeeFen + extraKilometres * perKilometreFeeFen
    }

    /// Minutes after midnight in the city's time at `ms` since 1970.
    public static func localMinute(atMs ms: Int64) -> Int {
        Int(((ms / 60_000 + Int64(cityUTCOffsetMinutes)) % 1_440 + 1_440) % 1_440)
    }

    /// The city's offset from UTC in minutes: Shanghai's +8 h, unless the environment variable
    /// `LANTERN_CITY_UTC_OFFSET_MINUTES` says otherwise (the live checks set it so that the demo
    /// shops are open whenever they run).
    public static let cityUTCOffsetMinutes: Int =
        getenv("LANTERN_CITY_UTC_OFFSET_MINUTES").flatMap { Int(String(cString: $0)) } ?? 8 * 60

    /// When a store with `backlogCups` waiting would have `cups` more ready: now + backlog / rate + prep.
    public static func readyAt(store: Store, backlogCups: Int, cups: Int, nowMs: Int64) -> Int64 {
        let queueMs = Int64(backlogCups + cups) * 3_600_000 / Int64(max(store.cupsPerHour, 1))
        return nowMs + queueMs + Int64(store.prepMinutes) * 60_000
    }

    /// Prices `request` at `store`, checking every line against the catalog and the store's menu.
    public static func price(
        _ request: OrderRequest, at store: Store, load: StoreLoad, nowMs: Int64, autoPause: AutoPause = .standard
    ) -> Result<PricedOrder, OrderProblem> {
        guard (1...maxItems).contains(request.items.count) else { return .failure(.badItemCount) }
        guard !load.paused else { return .failure(.storePaused(store.id)) }
        // A store never takes an order that would put it past the auto-pause limit.
        let cupsAsked = request.items.reduce(0) { $0 + max($1.quantity, 0) }
        let backlogAfter = AutoPause.backlogMinutes(load.backlogCups + cupsAsked, store: store)
        guard backlogAfter <= autoPause.limitMinutes || load.backlogCups == 0 else {
            // It can take the order once enough of its backlog is made: the excess over the limit.
            let wait = backlogAfter - autoPause.limitMinutes
            return .failure(.storeBusy(store.id, waitMinutes: Int(wait.rounded(.up))))
        }
        guard store.isOpen(atMinute: localMinute(atMs: nowMs)) else { return .failure(.storeClosed(store.id)) }
        let meters = store.location.distance(to: GeoPoint(lat: request.address.lat, lng: request.address.lng))
        guard meters <= maxDeliveryMeters else { return .failure(.outOfRange(store: store.id, meters: Int(meters))) }
        var items: [PricedLine] = []
        var cups = 0
        for (index, line) in request.items.enumerated() {
            let priced: PricedLine
            switch Catalog.price(line) {
            case .success(let value): priced = value
            case .failure(let problem): return .failure(.item(index, problem))
            }
            guard store.drinks.contains(line.drink) else {
                return .failure(.notOnMenu(index, drink: line.drink, store: store.name))
            }
            let needed = [line.drink] + (Catalog.definingTopping(of: line.drink).map { [$0.rawValue] } ?? []) + line.toppings.map(\.rawValue)
            if let missing = needed.first(where: load.outOfStock.contains) {
                return .failure(.outOfStock(index, item: missing, store: store.name))
            }
            let (unit, _) = store.price(priced)
            items.append(PricedLine(line: priced.line, unitPriceFen: unit))
            cups += line.quantity
        }
        let ready = readyAt(store: store, backlogCups: load.backlogCups, cups: cups, nowMs: nowMs)
        let travelMs = Int64(meters / riderMetersPerSecond * 1_000)
        return .success(
            PricedOrder(
                store: store, meters: meters, items: items, subtotalFen: items.reduce(0) { $0 + $1.totalFen },
                deliveryFeeFen: deliveryFee(meters: meters), readyAtMs: ready,
                promisedAtMs: ready + handoverMinutes * 60_000 + travelMs))
    }

    /// Prices the request at the store it names, or, when it names none (or only a brand), at the
    /// nearby open store that would deliver it soonest: the honest wait of the least loaded store
    /// in reach, never a silent place behind a long queue. `policy` `.nearest` (an experiment's
    /// alternative) takes the nearest store that can take it instead.
    public static func route(
        _ request: OrderRequest, in directory: MerchantDirectory, nowMs: Int64, policy: RoutingPolicy = .soonest,
        load: (Store) -> StoreLoad
    ) -> Result<PricedOrder, OrderProblem> {
        if let id = request.merchantID {
            guard let store = directory.store(id: id) else { return .failure(.unknownStore(id)) }
            return price(request, at: store, load: load(store), nowMs: nowMs)
        }
        guard (1...maxItems).contains(request.items.count) else { return .failure(.badItemCount) }
        for (index, line) in request.items.enumerated() {
            if case .failure(let problem) = Catalog.price(line) { return .failure(.item(index, problem)) }
        }
        let brand = request.brand?.lowercased()
        let candidates = directory.nearby(
            GeoPoint(lat: request.address.lat, lng: request.address.lng), radius: maxDeliveryMeters, limit: 24
        ) { store in
            (brand == nil || store.brand.lowercased() == brand || store.brandChinese == request.brand)
                && request.items.allSatisfy { store.drinks.contains($0.drink) }
        }
        var best: PricedOrder?
        var soonestFree: Int?
        for (store, _) in candidates {
            switch price(request, at: store, load: load(store), nowMs: nowMs) {
            case .success(let priced):
                if policy == .nearest { return .success(priced) }  // candidates come nearest first
                if best == nil || priced.promisedAtMs < best!.promisedAtMs { best = priced }
            case .failure(.storeBusy(_, let wait)):
                soonestFree = min(soonestFree ?? wait, wait)
            case .failure:
                continue
            }
        }
        if let best { return .success(best) }
        // Saturated, not absent: say how long, rather than queue the order behind the backlog.
        if let soonestFree { return .failure(.allBusy(waitMinutes: soonestFree)) }
        return .failure(.noStoreNearby)
    }
}

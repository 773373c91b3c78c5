import Foundation
import LanternCatalog
import LanternOrders

/// A campaign-sized spike on one district: orders pour in from a small area, each is routed by
/// `OrderDesk` against the stores' live backlogs (which they work off at their own rates), and
/// the routed orders are then dispatched and delivered by `DispatchSimulation`. It measures
/// whether any store passed its limit, how far the overflow spread, and how the waits users
/// were promised compare with what they got.
public struct DistrictSpike: Sendable {
    /// What the spike came to.
    public struct Outcome: Sendable {
        /// Orders that arrived.
        public var arrived: Int
        /// Orders a store took.
        public var placed: Int
        /// Orders told that every store in reach was full, with the wait.
        public var toldToWait: Int
        /// The most minutes of work any store had waiting at any time.
        public var maxBacklogMinutes: Double
        /// Stores within the district radius that took orders.
        public var storesInDistrict: Int
        /// Stores outside the district radius that took orders: where the overflow went.
        public var storesOutside: Int
        /// Share of delivered orders whose actual wait was within 20 % of the promised wait.
        public var withinTwentyPercent: Double
        /// Mean of |delivered − promised| / promised wait.
        public var meanPromiseError: Double
        /// Orders delivered.
        public var delivered: Int
    }

    /// Stores of the city.
    public var stores: [Store]
    /// Centre of the district.
    public var district: GeoPoint
    /// Radius of the district, metres.
    public var radiusMeters: Double
    /// Orders per minute at the spike's height.
    public var peakPerMinute: Double
    /// How long the spike lasts, minutes.
    public var minutes: Int
    /// Riders around the district.
    public var riders: Int
    /// Random seed.
    public var seed: UInt64

    /// Creates a spike.
    public init(
        stores: [Store], district: GeoPoint, radiusMeters: Double, peakPerMinute: Double, minutes: Int, riders: Int, seed: UInt64
    ) {
        self.stores = stores
        self.district = district
        self.radiusMeters = radiusMeters
        self.peakPerMinute = peakPerMinute
        self.minutes = minutes
        self.riders = riders
        self.seed = seed
    }

    /// Runs the spike: ten quiet minutes at a tenth of the peak, then the peak.
    public func run() -> Outcome {
        var random = SplitMix64(seed: seed)
        let directory = MerchantDirectory(stores: stores)
        let cosLat = cos(district.lat * .pi / 180)
        // Noon in China, when every demo store is open.
        let startMs: Int64 = 1_771_300_800_000
        var backlog = [Double](repeating: 0, count: stores.count)
        let index = Dictionary(uniqueKeysWithValues: stores.enumerated().map { ($1.id, $0) })
        var orders: [DispatchOrder] = []
        var placed: [Int64] = []
        var tookOrders = Set<Int>()
        var arrived = 0
        var toldToWait = 0
        var maxBacklog = 0.0
        let step: Int64 = 10_000
        var owed = 0.0
        var now = startMs
        while now < startMs + Int64(minutes + 10) * 60_000 {
            // Stores work off their backlog at their own rates.
            for i in backlog.indices where backlog[i] > 0 {
                backlog[i] = max(0, backlog[i] - Double(stores[i].cupsPerHour) * Double(step) / 3_600_000)
            }
            let rate = now < startMs + 10 * 60_000 ? peakPerMinute / 10 : peakPerMinute
            owed += rate * Double(step) / 60_000
            while owed >= 1 {
                owed -= 1
                arrived += 1
                let angle = random.unit(in: 0...(2 * .pi))
                let distance = radiusMeters * random.unit(in: 0...1).squareRoot()
                let address = GeoPoint(
                    lat: district.lat + distance * sin(angle) / 111_195, lng: district.lng + distance * cos(angle) / (111_195 * cosLat))
                let drink = OrderLine(drink: ["pearl milk tea", "taro milk tea", "jasmine milk green tea"][Int(random.next() % 3)], quantity: 1 + Int(random.next() % 2))
                let request = OrderRequest(
                    merchantID: nil, brand: nil, items: [drink], cardID: nil,
                    address: .init(lat: address.lat, lng: address.lng, text: "spike"))
                let routed = OrderDesk.route(request, in: directory, nowMs: now) { store in
                    StoreLoad(backlogCups: Int(backlog[index[store.id]!].rounded(.up)), paused: false)
                }
                guard case .success(let priced) = routed, let storeIndex = index[priced.store.id] else {
                    toldToWait += 1
                    continue
                }
                backlog[storeIndex] += Double(drink.quantity)
                maxBacklog = max(maxBacklog, AutoPause.backlogMinutes(Int(backlog[storeIndex].rounded(.up)), store: priced.store))
                tookOrders.insert(storeIndex)
                orders.append(
                    DispatchOrder(
                        id: orders.count, store: priced.store.location, drop: address, readyAtMs: priced.readyAtMs,
                        promisedAtMs: priced.promisedAtMs))
                placed.append(now)
            }
            now += step
        }
        var riderList: [Rider] = []
        for id in 0..<riders {
            let angle = random.unit(in: 0...(2 * .pi))
            let distance = 3 * radiusMeters * random.unit(in: 0...1).squareRoot()
            riderList.append(
                Rider(id: id, position: GeoPoint(lat: district.lat + distance * sin(angle) / 111_195, lng: district.lng + distance * cos(angle) / (111_195 * cosLat))))
        }
        let outcome = DispatchSimulation(orders: orders, placedAtMs: placed, riders: riderList).run(.planned)
        var errors: [Double] = []
        for (i, order) in orders.enumerated() {
            guard let delivered = outcome.deliveredAtMs[i] else { continue }
            let promisedWait = Double(order.promisedAtMs - placed[i])
            errors.append(abs(Double(delivered - order.promisedAtMs)) / promisedWait)
        }
        let inDistrict = tookOrders.filter { stores[$0].location.distance(to: district) <= radiusMeters }.count
        return Outcome(
            arrived: arrived, placed: orders.count, toldToWait: toldToWait, maxBacklogMinutes: maxBacklog,
            storesInDistrict: inDistrict, storesOutside: tookOrders.count - inDistrict,
            withinTwentyPercent: errors.isEmpty ? 0 : Double(errors.filter { $0 <= 0.2 }.count) / Double(errors.count),
            meanPromiseError: errors.isEmpty ? 0 : errors.reduce(0, +) / Double(errors.count), delivered: errors.count)
    }
}

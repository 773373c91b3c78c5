import Foundation
import LanternCatalog

/// A stop on a rider's route: a store to collect an order from, or a door to bring it to.
public struct RouteStop: Sendable, Equatable {
    /// The order.
    public var order: Int
    /// Pickup at the store, or drop-off at the door.
    public var isPickup: Bool
    /// Where.
    public var point: GeoPoint
}

/// A rider on shift.
public struct Rider: Sendable, Equatable {
    /// Rider id.
    public var id: Int
    /// Where the rider is.
    public var position: GeoPoint
    /// Riding speed, metres per second.
    public var metersPerSecond: Double
    /// Orders carried at once, at most.
    public var capacity: Int
    /// Stops still to make, in order.
    public var route: [RouteStop] = []
    /// Orders picked up and not yet delivered.
    public var carrying: Int = 0
    /// When the rider's shift ends, milliseconds: no route is planned to finish after it.
    public var shiftEndsAtMs: Int64

    /// Creates a rider with an empty route.
    public init(
        id: Int, position: GeoPoint, metersPerSecond: Double = 4.2, capacity: Int = 4, shiftEndsAtMs: Int64 = .max
    ) {
        self.id = id
        self.position = position
        self.metersPerSecond = metersPerSecond
        self.capacity = capacity
        self.shiftEndsAtMs = shiftEndsAtMs
    }
}

/// An order as dispatch sees it.
public struct DispatchOrder: Sendable, Equatable {
    /// Order id (an index into the round's orders).
    public var id: Int
    /// The store.
    public var store: GeoPoint
    /// The door.
    public var drop: GeoPoint
    /// When the store will have it ready, milliseconds.
    public var readyAtMs: Int64
    /// When the customer was promised it, milliseconds.
    public var promisedAtMs: Int64
    /// The rider it was given to, once assigned.
    public var rider: Int?

    /// Creates an unassigned order.
    public init(id: Int, store: GeoPoint, drop: GeoPoint, readyAtMs: Int64, promisedAtMs: Int64) {
        self.id = id
        self.store = store
        self.drop = drop
        self.readyAtMs = readyAtMs
        self.promisedAtMs = promisedAtMs
    }
}

/// How a round gives orders to riders.
public enum DispatchPolicy: String, Sendable, CaseIterable {
    /// Lantern's: ready and soon-ready orders (within ten minutes) are inserted into the route
    /// of whichever nearby rider it costs least (lateness first, then distance), batching pickups
    /// at one store and drops along the way; riders leave so as to reach the store as the drink
    /// is ready.
    case planned
    /// The baseline: each ready order goes to the nearest idle rider, one order per trip.
    case nearestIdle = "nearest-idle"
}

/// Dispatch rounds over riders and open orders: pure, so rounds and whole simulated days can be
/// measured and tested without a server.
public enum Dispatch {
    /// How far ahead of its ready time an order is dispatched.
    public static let horizonMs: Int64 = 10 * 60_000
    /// Riders considered for each order (nearest to its store).
    public static let candidateRiders = 6
    /// Metres of riding one minute of lateness is worth when comparing routes.
    public static let metersPerLateMinute = 2_000.0
    /// Seconds a rider spends at each stop: collecting at the counter, handing over at the door.
    public static let stopSeconds: Int64 = 60

    /// Distance in metres, equirectangular: accurate to well under 1 % within a city.
    @inline(__always)
    public static func meters(_ a: GeoPoint, _ b: GeoPoint, cosLat: Double) -> Double {
        let dy = (a.lat - b.lat) * 111_195.0
        let dx = (a.lng - b.lng) * 111_195.0 * cosLat
        return (dx * dx + dy * dy).squareRoot()
    }

    /// Lateness (ms, summed over drops) and metres of a route, or `nil` if it overloads the rider
    /// or runs past the end of their shift.
    static func evaluate(
        _ route: [RouteStop], rider: Rider, nowMs: Int64, orders: [DispatchOrder], cosLat: Double
    ) -> (latenessMs: Double, meters: Double)? {
        var time = Double(nowMs)
        var position = rider.position
        var load = rider.carrying
        var lateness = 0.0
        var total = 0.0
        for stop in route {
            let distance = meters(position, stop.point, cosLat: cosLat)
            total += distance
            time += distance / rider.metersPerSecond * 1_000
            let order = orders[stop.order]
            if stop.isPickup {
                load += 1
                if load > rider.capacity { return nil }
                time = max(time, Double(order.readyAtMs))
            } else {
                load -= 1
                lateness += max(0, time - Double(order.promisedAtMs))
            }
            time += Double(stopSeconds * 1_000)
            position = stop.point
        }
        if time > Double(rider.shiftEndsAtMs) { return nil }
        return (lateness, total)
    }

    /// When the rider would drop each order of their route: order id → milliseconds.
    public static func dropTimes(_ rider: Rider, nowMs: Int64, orders: [DispatchOrder]) -> [Int: Int64] {
        let cosLat = cos(rider.position.lat * .pi / 180)
        var time = Double(nowMs)
        var position = rider.position
        var drops: [Int: Int64] = [:]
        for stop in rider.route {
            time += meters(position, stop.point, cosLat: cosLat) / rider.metersPerSecond * 1_000
            if stop.isPickup { time = max(time, Double(orders[stop.order].readyAtMs)) } else { drops[stop.order] = Int64(time) }
            time += Double(stopSeconds * 1_000)
            position = stop.point
        }
        return drops
    }

    /// Runs one round at `nowMs` with each order under its own policy (an experiment's
    /// variants): planned orders are routed first, then the others go to the riders still idle.
    /// Returns how many orders were assigned.
    @discardableResult
    public static func round(
        orders: inout [DispatchOrder], open: inout [Int], riders: inout [Rider], nowMs: Int64, policy: (Int) -> DispatchPolicy
    ) -> Int {
        var assigned = 0
        for each in DispatchPolicy.allCases {
            var part = open.filter { policy($0) == each }
            guard !part.isEmpty else { continue }
            assigned += round(each, orders: &orders, open: &part, riders: &riders, nowMs: nowMs)
        }
        if assigned > 0 { open.removeAll { orders[$0].rider != nil } }
        return assigned
    }

    /// Runs one round at `nowMs`; returns how many orders were assigned.
    @discardableResult
    public static func round(
        _ policy: DispatchPolicy, orders: inout [DispatchOrder], open: inout [Int], riders: inout [Rider], nowMs: Int64
    ) -> Int {
        guard !riders.isEmpty, !open.isEmpty else { return 0 }
        let cosLat = cos(riders[0].position.lat * .pi / 180)
        let index = GeoIndex(points: riders.map(\.position), pointsPerCell: 2)
        var assigned = 0
        switch policy {
        case .planned:
            let due = open.filter { orders[$0].readyAtMs - nowMs <= horizonMs }.sorted { orders[$0].promisedAtMs < orders[$1].promisedAtMs }
            for id in due {
                let order = orders[id]
                var best: (rider: Int, route: [RouteStop], cost: Double)?
                for (candidate, _) in index.nearest(to: order.store, k: candidateRiders * 2) {
                    let rider = riders[candidate]
                    if rider.route.count >= 2 * rider.capacity { continue }
                    let before = evaluate(rider.route, rider: rider, nowMs: nowMs, orders: orders, cosLat: cosLat) ?? (0, 0)
                    let pickup = RouteStop(order: id, isPickup: true, point: order.store)
                    let drop = RouteStop(order: id, isPickup: false, point: order.drop)
                    let count = rider.route.count
                    for i in 0...count {
                        for j in (i + 1)...(count + 1) {
                            var route = rider.route
                            route.insert(pickup, at: i)
                            route.insert(drop, at: j)
                            guard let after = evaluate(route, rider: rider, nowMs: nowMs, orders: orders, cosLat: cosLat) else { continue }
                            let cost = (after.latenessMs - before.latenessMs) / 60_000 * metersPerLateMinute + after.meters - before.meters
                            if best == nil || cost < best!.cost { best = (candidate, route, cost) }
                        }
                    }
                }
                guard let best else { continue }
                riders[best.rider].route = best.route
                orders[id].rider = riders[best.rider].id
                assigned += 1
            }
        case .nearestIdle:
            let ready = open.filter { orders[$0].readyAtMs <= nowMs }.sorted { orders[$0].readyAtMs < orders[$1].readyAtMs }
            // Riders with no route are idle; those off shift are never chosen.
            var busy = Set(riders.indices.filter { !riders[$0].route.isEmpty || riders[$0].shiftEndsAtMs <= nowMs })
            for id in ready {
                let order = orders[id]
                // Wider and wider, at least once however few riders there are.
                var k = 8
                var chosen: Int?
                while chosen == nil, k <= max(8, riders.count * 2) {
                    chosen = index.nearest(to: order.store, k: k).first { !busy.contains($0.id) }?.id
                    if busy.count == riders.count { break }
                    k *= 4
                }
                guard let chosen else { break }
                riders[chosen].route = [
                    RouteStop(order: id, isPickup: true, point: order.store), RouteStop(order: id, isPickup: false, point: order.drop),
                ]
                busy.insert(chosen)
                orders[id].rider = riders[chosen].id
                assigned += 1
            }
        }
        if assigned > 0 { open.removeAll { orders[$0].rider != nil } }
        return assigned
    }
}

/// A simulated stretch of a day: orders arrive, rounds dispatch them, riders ride, and every
/// delivery's lateness against its promise is recorded.
public struct DispatchSimulation: Sendable {
    /// What the day came to under one policy.
    public struct Outcome: Sendable, Equatable {
        /// Orders delivered.
        public var delivered: Int
        /// Mean lateness against the promise, minutes (early counts as 0).
        public var meanLatenessMinutes: Double
        /// 95th percentile lateness, minutes.
        public var p95LatenessMinutes: Double
        /// Rider kilometres per delivered order.
        public var kilometresPerOrder: Double
        /// Mean minutes a rider waited at a counter for a drink.
        public var meanCounterWaitMinutes: Double
        /// When each order was delivered, milliseconds (`nil`: not within the simulation).
        public var deliveredAtMs: [Int64?]
    }

    /// Orders placed, in placement order, with when each was placed.
    public var orders: [DispatchOrder]
    /// When each order was placed, milliseconds.
    public var placedAtMs: [Int64]
    /// Riders at the start.
    public var riders: [Rider]

    /// A simulation of these orders (ids 0…n-1 in placement order) and riders.
    public init(orders: [DispatchOrder], placedAtMs: [Int64], riders: [Rider]) {
        self.orders = orders
        self.placedAtMs = placedAtMs
        self.riders = riders
    }

    /// A deterministic synthetic rush: `orderCount` orders over `hours` from the city's stores
    /// (busier in the middle), drops within 3 km, ready 4–15 minutes after placement, promised
    /// as Lantern promises (ready + handover + ride at 15 km/h); `riderCount` riders starting
    /// near stores.
    public static func syntheticDay(stores: [Store], orderCount: Int, riderCount: Int, hours: Double, seed: UInt64) -> DispatchSimulation {
        var random = SplitMix64(seed: seed)
        let span = hours * 3_600_000
        var orders: [DispatchOrder] = []
        var placed: [Int64] = []
        let cosLat = cos(DemoCity.centre.lat * .pi / 180)
        for id in 0..<orderCount {
            // Two overlapping uniform draws: a triangular peak in the middle of the stretch.
            let at = Int64((random.unit(in: 0...1) + random.unit(in: 0...1)) / 2 * span)
            let store = stores[Int(random.next() % UInt64(stores.count))].location
            let angle = random.unit(in: 0...(2 * .pi))
            let distance = random.unit(in: 300...3_000)
            let drop = GeoPoint(
                lat: store.lat + distance * sin(angle) / 111_195, lng: store.lng + distance * cos(angle) / (111_195 * cosLat))
            let ready = at + Int64(random.unit(in: 4...15) * 60_000)
            let ride = Int64(Dispatch.meters(store, drop, cosLat: cosLat) / OrderDesk.riderMetersPerSecond * 1_000)
            orders.append(
                DispatchOrder(id: id, store: store, drop: drop, readyAtMs: ready, promisedAtMs: ready + OrderDesk.handoverMinutes * 60_000 + ride))
            placed.append(at)
        }
        let order = placed.indices.sorted { placed[$0] < placed[$1] }
        let sortedOrders = order.enumerated().map { index, original -> DispatchOrder in
            var copy = orders[original]
            copy.id = index
            return copy
        }
        // Riders start near stores, so the suburbs have theirs as the centre does.
        let riders = (0..<riderCount).map { id in
            let near = stores[Int(random.next() % UInt64(stores.count))].location
            return Rider(
                id: id, position: GeoPoint(lat: near.lat + random.unit(in: -0.005...0.005), lng: near.lng + random.unit(in: -0.005...0.005)))
        }
        return DispatchSimulation(orders: sortedOrders, placedAtMs: order.map { placed[$0] }, riders: riders)
    }

    /// Runs the day under `policy`: a round every `roundSeconds`, riders moved every `stepSeconds`.
    public func run(_ policy: DispatchPolicy, roundSeconds: Int64 = 20, stepSeconds: Int64 = 5) -> Outcome {
        var orders = self.orders
        var riders = self.riders
        var open: [Int] = []
        var released = 0
        var lateness: [Double] = []
        var meters = 0.0
        var counterWait = 0.0
        var pickups = 0
        var delivered = [Int64?](repeating: nil, count: orders.count)
        var resting = [Int64](repeating: 0, count: riders.count)
        let cosLat = cos(DemoCity.centre.lat * .pi / 180)
        let end = (placedAtMs.last ?? 0) + 4 * 3_600_000
        var now: Int64 = placedAtMs.first ?? 0
        var nextRound: Int64 = now
        let step = stepSeconds * 1_000
        while now <= end, lateness.count < orders.count {
            while released < orders.count, placedAtMs[released] <= now {
                open.append(released)
                released += 1
            }
            if now >= nextRound {
                Dispatch.round(policy, orders: &orders, open: &open, riders: &riders, nowMs: now)
                nextRound = now + roundSeconds * 1_000
            }
            for index in riders.indices where resting[index] <= now {
                var budget = riders[index].metersPerSecond * Double(stepSeconds)
                while budget > 0, let stop = riders[index].route.first {
                    let rider = riders[index]
                    let distance = Dispatch.meters(rider.position, stop.point, cosLat: cosLat)
                    let order = orders[stop.order]
                    if stop.isPickup, policy == .planned, distance > 1,
                        Double(now) + distance / rider.metersPerSecond * 1_000 < Double(order.readyAtMs)
                    {
                        break  // leave so as to arrive as the drink is ready
                    }
                    if distance > budget {
                        let fraction = budget / distance
                        riders[index].position = GeoPoint(
                            lat: rider.position.lat + (stop.point.lat - rider.position.lat) * fraction,
                            lng: rider.position.lng + (stop.point.lng - rider.position.lng) * fraction)
                        meters += budget
                        budget = 0
                        break
                    }
                    riders[index].position = stop.point
                    meters += distance
                    budget -= distance
                    let arrivedAt = now + step - Int64(budget / rider.metersPerSecond * 1_000)
                    if stop.isPickup {
                        if arrivedAt < order.readyAtMs {
                            counterWait += Double(step)
                            break  // waiting at the counter
                        }
                        counterWait += Double(max(0, arrivedAt - max(order.readyAtMs, now)))
                        pickups += 1
                        riders[index].carrying += 1
                    } else {
                        riders[index].carrying -= 1
                        lateness.append(Double(max(0, arrivedAt - order.promisedAtMs)) / 60_000)
                        delivered[stop.order] = arrivedAt
                    }
                    riders[index].route.removeFirst()
                    resting[index] = arrivedAt + Dispatch.stopSeconds * 1_000
                    break
                }
            }
            now += step
        }
        let sorted = lateness.sorted()
        return Outcome(
            delivered: lateness.count,
            meanLatenessMinutes: lateness.isEmpty ? 0 : lateness.reduce(0, +) / Double(lateness.count),
            p95LatenessMinutes: sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.95))],
            kilometresPerOrder: lateness.isEmpty ? 0 : meters / 1_000 / Double(lateness.count),
            meanCounterWaitMinutes: pickups == 0 ? 0 : counterWait / Double(pickups) / 60_000, deliveredAtMs: delivered)
    }
}

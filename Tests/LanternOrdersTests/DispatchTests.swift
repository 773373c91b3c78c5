import LanternLab
import LanternCatalog
import Testing

@testable import LanternOrders

@Suite struct DispatchTests {
    let store = GeoPoint(lat: 31.23, lng: 121.47)

    func offset(_ point: GeoPoint, north meters: Double) -> GeoPoint {
        GeoPoint(lat: point.lat + meters / 111_195, lng: point.lng)
    }

    @Test func twoOrdersFromOneStoreGoingTheSameWayRideTogether() {
        var orders = [
            DispatchOrder(id: 0, store: store, drop: offset(store, north: 1_500), readyAtMs: 60_000, promisedAtMs: 1_200_000),
            DispatchOrder(id: 1, store: store, drop: offset(store, north: 1_700), readyAtMs: 60_000, promisedAtMs: 1_200_000),
        ]
        var riders = [Rider(id: 0, position: offset(store, north: -500)), Rider(id: 1, position: offset(store, north: -600))]
        var open = [0, 1]
        #expect(Dispatch.round(.planned, orders: &orders, open: &open, riders: &riders, nowMs: 0) == 2)
        #expect(orders[0].rider == orders[1].rider)
        #expect(open.isEmpty)
        let route = riders.first { !$0.route.isEmpty }!.route
        #expect(route.map(\.isPickup) == [true, true, false, false])
    }

    @Test func inOneRoundEachOrderIsDispatchedUnderItsOwnPolicy() {
        // Four orders from one store going the same way: two planned (an experiment's control),
        // two sent alone to the nearest idle rider (its other variant).
        var orders = (0..<4).map {
            DispatchOrder(id: $0, store: store, drop: offset(store, north: 1_500 + Double($0) * 100), readyAtMs: 0, promisedAtMs: 1_800_000)
        }
        var riders = (0..<3).map { Rider(id: $0, position: offset(store, north: -300 - Double($0) * 100)) }
        var open = [0, 1, 2, 3]
        #expect(Dispatch.round(orders: &orders, open: &open, riders: &riders, nowMs: 0) { $0 < 2 ? .planned : .nearestIdle } == 4)
        #expect(open.isEmpty)
        #expect(orders[0].rider == orders[1].rider, "planned orders ride together")
        let alone = [orders[2].rider, orders[3].rider].compactMap { $0 }
        #expect(alone.count == 2 && Set(alone).count == 2 && !alone.contains(orders[0].rider!), "each of the others on its own rider")
        for rider in alone { #expect(riders[rider].route.count == 2) }
    }

    @Test func aRiderNeverCarriesMoreThanTheirCapacity() {
        var orders = (0..<3).map {
            DispatchOrder(id: $0, store: store, drop: offset(store, north: 1_000), readyAtMs: 0, promisedAtMs: 3_600_000)
        }
        var riders = [Rider(id: 0, position: store, capacity: 2)]
        var open = [0, 1, 2]
        #expect(Dispatch.round(.planned, orders: &orders, open: &open, riders: &riders, nowMs: 0) == 2)
        #expect(open == [2])
        let threeAboard = (0..<3).map { RouteStop(order: $0, isPickup: true, point: store) }
        #expect(Dispatch.evaluate(threeAboard, rider: riders[0], nowMs: 0, orders: orders, cosLat: 0.85) == nil)
        #expect(Dispatch.evaluate(Array(threeAboard.prefix(2)), rider: riders[0], nowMs: 0, orders: orders, cosLat: 0.85) != nil)
    }

    @Test func noRouteIsPlannedPastTheEndOfARidersShift() {
        var orders = [DispatchOrder(id: 0, store: store, drop: offset(store, north: 3_000), readyAtMs: 0, promisedAtMs: 30 * 60_000)]
        // 3 km at 4.2 m/s plus two stops is about 14 minutes: the first rider's shift ends in 10.
        var riders = [
            Rider(id: 0, position: store, shiftEndsAtMs: 10 * 60_000),
            Rider(id: 1, position: offset(store, north: -800), shiftEndsAtMs: 60 * 60_000),
        ]
        var open = [0]
        #expect(Dispatch.round(.planned, orders: &orders, open: &open, riders: &riders, nowMs: 0) == 1)
        #expect(orders[0].rider == 1)
    }

    @Test func ordersBeyondTheHorizonWait() {
        var orders = [DispatchOrder(id: 0, store: store, drop: offset(store, north: 1_000), readyAtMs: 30 * 60_000, promisedAtMs: 45 * 60_000)]
        var riders = [Rider(id: 0, position: store)]
        var open = [0]
        #expect(Dispatch.round(.planned, orders: &orders, open: &open, riders: &riders, nowMs: 0) == 0)
        #expect(Dispatch.round(.planned, orders: &orders, open: &open, riders: &riders, nowMs: 21 * 60_000) == 1)
    }

    @Test func theRiderReachesTheStoreAsTheDrinkIsReadyNotEarly() {
        // One order ready 12 minutes after placement, a rider 1 km away and free from the start.
        let order = DispatchOrder(id: 0, store: store, drop: offset(store, north: 2_000), readyAtMs: 12 * 60_000, promisedAtMs: 25 * 60_000)
        let day = DispatchSimulation(orders: [order], placedAtMs: [0], riders: [Rider(id: 0, position: offset(store, north: -1_000))])
        let planned = day.run(.planned)
        #expect(planned.delivered == 1)
        #expect(planned.meanLatenessMinutes == 0)
        #expect(planned.meanCounterWaitMinutes < 0.5)
    }

    @Test func onASimulatedRushPlannedDispatchIsAtLeastAQuarterLessLateOnNoMoreKilometres() {
        let day = DispatchSimulation.syntheticDay(
            stores: DemoCity.stores(count: 120, seed: 3), orderCount: 300, riderCount: 60, hours: 1.5, seed: 8)
        let planned = day.run(.planned)
        let baseline = day.run(.nearestIdle)
        #expect(planned.delivered == 300)
        #expect(baseline.delivered == 300)
        #expect(planned.meanLatenessMinutes <= 0.75 * baseline.meanLatenessMinutes, "\(planned) vs \(baseline)")
        #expect(planned.kilometresPerOrder <= baseline.kilometresPerOrder, "\(planned) vs \(baseline)")
    }
}

@Suite struct DistrictSpikeTests {
    @Test func aSpikeOnOneDistrictStaysUnderEveryStoresLimitSpillsToNeighboursAndKeepsItsPromises() {
        let spike = DistrictSpike(
            stores: DemoCity.stores(count: 300, seed: 2026),
            district: GeoPoint(lat: DemoCity.centre.lat + 0.01, lng: DemoCity.centre.lng + 0.01), radiusMeters: 1_000,
            peakPerMinute: 80, minutes: 20, riders: 800, seed: 3)
        let outcome = spike.run()
        #expect(outcome.placed + outcome.toldToWait == outcome.arrived)
        #expect(outcome.maxBacklogMinutes <= 30)
        #expect(outcome.maxBacklogMinutes > 20, "the spike must load the district's stores: \(outcome.maxBacklogMinutes)")
        #expect(outcome.storesOutside > outcome.storesInDistrict, "overflow spreads to neighbours")
        #expect(outcome.delivered == outcome.placed)
        #expect(outcome.withinTwentyPercent >= 0.9, "promised waits within 20 %: \(outcome.withinTwentyPercent)")
    }
}

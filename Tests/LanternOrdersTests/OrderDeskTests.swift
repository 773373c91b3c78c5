import LanternCatalog
import LanternLedger
import Testing

@testable import LanternOrders

/// Noon in China on 2026-02-17 (04:00 UTC), when every demo store is open.
let noonMs: Int64 = 1_771_300_800_000

func store(_ id: String, at point: GeoPoint, cupsPerHour: Int = 60, drinks: [String] = Catalog.drinks.map(\.name)) -> Store {
    Store(
        id: id, name: "Store \(id)", brand: "Lantern Tea", brandChinese: "灯笼茶", location: point, cupsPerHour: cupsPerHour,
        prepMinutes: 4, opensAtMinute: 8 * 60, closesAtMinute: 22 * 60, pricePermille: 1_000, drinks: drinks)
}

func request(_ lines: [OrderLine], at point: GeoPoint, merchant: String? = nil) -> OrderRequest {
    OrderRequest(merchantID: merchant, brand: nil, items: lines, cardID: nil, address: DeliveryAddress(lat: point.lat, lng: point.lng, text: "here"))
}

@Suite struct OrderDeskTests {
    let here = GeoPoint(lat: 31.23, lng: 121.47)

    @Test func pricesComeFromTheMenuWithTheDeliveryFee() throws {
        let shop = store("a", at: GeoPoint(lat: 31.23, lng: 121.48))
        let line = OrderLine(drink: "taro milk tea", size: .large, toppings: [.pudding], quantity: 2)
        let priced = try OrderDesk.price(request([line], at: here), at: shop, load: StoreLoad(backlogCups: 0, paused: false), nowMs: noonMs).get()
        // 18.00 + 3.00 large + 3.00 pudding = 24.00 a cup, two cups.
        #expect(priced.items.first?.unitPriceFen == 2_400)
        #expect(priced.subtotalFen == 4_800)
        #expect(priced.deliveryFeeFen == 300)
        #expect(priced.items.first?.line.sugar == 70)
        #expect(priced.items.first?.line.ice == .normal)
    }

    @Test func deliveryFeeGrowsPerStartedKilometreBeyondThree() {
        #expect(OrderDesk.deliveryFee(meters: 0) == 300)
        #expect(OrderDesk.deliveryFee(meters: 3_000) == 300)
        #expect(OrderDesk.deliveryFee(meters: 3_001) == 400)
        #expect(OrderDesk.deliveryFee(meters: 5_500) == 600)
    }

    @Test func refusesWhatTheStoreCannotMakeNamingTheItem() {
        let shop = store("a", at: here, drinks: ["americano"])
        let load = StoreLoad(backlogCups: 0, paused: false)
        let hot = OrderDesk.price(request([OrderLine(drink: "americano"), OrderLine(drink: "americano", toppings: [.pearls])], at: here), at: shop, load: load, nowMs: noonMs)
        #expect(hot == .failure(.item(1, .toppingNotAllowed(drink: "americano", topping: .pearls))))
        let notSold = OrderDesk.price(request([OrderLine(drink: "taro milk tea")], at: here), at: shop, load: load, nowMs: noonMs)
        #expect(notSold == .failure(.notOnMenu(0, drink: "taro milk tea", store: "Store a")))
        let soldOut = OrderDesk.price(
            request([OrderLine(drink: "americano")], at: here), at: shop,
            load: StoreLoad(backlogCups: 0, paused: false, outOfStock: ["americano"]), nowMs: noonMs)
        #expect(soldOut == .failure(.outOfStock(0, item: "americano", store: "Store a")))
        let paused = OrderDesk.price(request([OrderLine(drink: "americano")], at: here), at: shop, load: StoreLoad(backlogCups: 0, paused: true), nowMs: noonMs)
        #expect(paused == .failure(.storePaused("a")))
        let night = OrderDesk.price(request([OrderLine(drink: "americano")], at: here), at: shop, load: load, nowMs: noonMs + 12 * 3_600_000)
        #expect(night == .failure(.storeClosed("a")))
    }

    @Test func readyTimeIsBacklogOverRatePlusPrep() {
        let shop = store("a", at: here, cupsPerHour: 60)
        // 29 waiting + 1 new at a cup a minute, plus 4 minutes' prep.
        #expect(OrderDesk.readyAt(store: shop, backlogCups: 29, cups: 1, nowMs: 0) == 34 * 60_000)
    }

    @Test func routesToTheStoreThatDeliversSoonestNotTheNearest() throws {
        let near = store("near", at: GeoPoint(lat: 31.231, lng: 121.47))
        let farther = store("farther", at: GeoPoint(lat: 31.245, lng: 121.47))
        let directory = MerchantDirectory(stores: [near, farther])
        let quiet = try OrderDesk.route(request([OrderLine(drink: "pearl milk tea")], at: here), in: directory, nowMs: noonMs) { _ in
            StoreLoad(backlogCups: 0, paused: false)
        }.get()
        #expect(quiet.store.id == "near")
        let busy = try OrderDesk.route(request([OrderLine(drink: "pearl milk tea")], at: here), in: directory, nowMs: noonMs) { store in
            StoreLoad(backlogCups: store.id == "near" ? 50 : 0, paused: false)
        }.get()
        #expect(busy.store.id == "farther")
        let none = OrderDesk.route(request([OrderLine(drink: "pearl milk tea")], at: here), in: directory, nowMs: noonMs) { _ in
            StoreLoad(backlogCups: 0, paused: true)
        }
        #expect(none == .failure(.noStoreNearby))
    }

    @Test func theDemoCityIsDeterministic() {
        #expect(DemoCity.stores(count: 50, seed: 7) == DemoCity.stores(count: 50, seed: 7))
        #expect(DemoCity.stores(count: 50, seed: 7) != DemoCity.stores(count: 50, seed: 8))
        let city = DemoCity.stores(count: 2_000, seed: 1)
        let central = city.filter { $0.location.distance(to: DemoCity.centre) < 5_000 }.count
        #expect(central > city.count / 2, "dense centre: \(central) of \(city.count) within 5 km")
        #expect(Set(city.map(\.brand)).count == DemoCity.brandNames.count)
    }

    @Test func nearbySearchMatchesBruteForce() {
        let city = DemoCity.stores(count: 3_000, seed: 3)
        let directory = MerchantDirectory(stores: city)
        var random = SplitMix64(seed: 11)
        for _ in 0..<50 {
            let point = GeoPoint(lat: DemoCity.centre.lat + random.unit(in: -0.1...0.1), lng: DemoCity.centre.lng + random.unit(in: -0.1...0.1))
            let found = directory.nearby(point, radius: 2_000, limit: 10) { $0.brand == "Moon Pearl" }
            let expected = city.filter { $0.brand == "Moon Pearl" }
                .map { ($0.id, $0.location.distance(to: point)) }
                .filter { $0.1 <= 2_000 }
                .sorted { $0.1 < $1.1 }
                .prefix(10)
            #expect(found.map(\.store.id) == expected.map(\.0))
        }
    }
}

@Suite struct CapacityTests {
    let here = GeoPoint(lat: 31.23, lng: 121.47)

    @Test func autoPauseHasHysteresis() {
        let rule = AutoPause.standard
        #expect(!rule.paused(wasPaused: false, backlogMinutes: 29))
        #expect(rule.paused(wasPaused: false, backlogMinutes: 30))
        // Paused, it stays paused between the marks and resumes only under the lower one.
        #expect(rule.paused(wasPaused: true, backlogMinutes: 25))
        #expect(rule.paused(wasPaused: true, backlogMinutes: 20))
        #expect(!rule.paused(wasPaused: true, backlogMinutes: 19.9))
        #expect(!rule.paused(wasPaused: false, backlogMinutes: 25))
    }

    @Test func aStoreNeverTakesAnOrderPastItsLimitAndSaysWhenItCan() {
        let shop = store("a", at: here, cupsPerHour: 60)
        let two = request([OrderLine(drink: "pearl milk tea", quantity: 2)], at: here)
        #expect((try? OrderDesk.price(two, at: shop, load: StoreLoad(backlogCups: 28, paused: false), nowMs: noonMs).get()) != nil)
        #expect(OrderDesk.price(two, at: shop, load: StoreLoad(backlogCups: 29, paused: false), nowMs: noonMs) == .failure(.storeBusy("a", waitMinutes: 1)))
    }

    @Test func whenEveryStoreInReachIsFullTheUserIsToldTheWait() {
        let directory = MerchantDirectory(stores: [store("a", at: here, cupsPerHour: 60), store("b", at: GeoPoint(lat: 31.235, lng: 121.47), cupsPerHour: 60)])
        let result = OrderDesk.route(request([OrderLine(drink: "pearl milk tea")], at: here), in: directory, nowMs: noonMs) { store in
            StoreLoad(backlogCups: store.id == "a" ? 40 : 35, paused: false)
        }
        #expect(result == .failure(.allBusy(waitMinutes: 6)))
    }
}

import Testing

@testable import LanternCatalog

@Suite struct CatalogTests {
    @Test func holdsEveryRequiredDrinkWithItsChineseName() {
        let required = [
            "pearl milk tea": "珍珠奶茶", "brown sugar pearl milk": "黑糖珍珠鲜奶", "taro milk tea": "芋泥奶茶",
            "oolong milk tea": "乌龙奶茶", "jasmine milk green tea": "茉莉奶绿", "hong kong milk tea": "港式奶茶",
            "red bean milk tea": "红豆奶茶", "cheese foam oolong": "芝士乌龙", "jasmine green tea": "茉莉绿茶",
            "lemon black tea": "柠檬红茶", "fresh lemon water": "柠檬水", "mango pomelo sago": "杨枝甘露",
            "cheese grape fruit tea": "多肉葡萄", "peach oolong tea": "桃桃乌龙", "passion fruit green tea": "百香果绿茶",
            "strawberry fruit tea": "草莓果茶", "yakult green tea": "养乐多绿茶", "matcha latte": "抹茶拿铁",
            "coconut latte": "生椰拿铁", "americano": "美式咖啡",
        ]
        for (english, chinese) in required { #expect(Catalog.drink(named: english)?.chinese == chinese) }
        #expect(Catalog.drinks.count == required.count)
    }

    @Test func pricesComeFromTheCatalogWithSizeAndToppings() throws {
        let priced = try Catalog.price(
            OrderLine(drink: "pearl milk tea", size: .large, sugar: 70, ice: .none, toppings: [.pudding, .pearls], quantity: 2)
        ).get()
        // 15 yuan + 3 for large + 3 pudding + 2 pearls, twice.
        #expect(priced.unitPriceFen == 1_500 + 300 + 300 + 200)
        #expect(priced.totalFen == 2 * 2_300)
    }

    @Test func unsaidOptionsTakeTheDrinksDefaults() throws {
        let priced = try Catalog.price(OrderLine(drink: "mango pomelo sago")).get()
        #expect(priced.line.size == .large)
        #expect(priced.line.ice == .normal)
        #expect(priced.line.sugar == 70)
        #expect(priced.line.quantity == 1)
    }

    @Test func optionsADrinkDoesNotAllowAreRefusedWithTheReason() {
        #expect(throws: OrderLineProblem.iceNotAllowed(drink: "cheese grape fruit tea", ice: .hot)) {
            try Catalog.price(OrderLine(drink: "cheese grape fruit tea", ice: .hot)).get()
        }
        #expect(throws: OrderLineProblem.toppingNotAllowed(drink: "americano", topping: .pearls)) {
            try Catalog.price(OrderLine(drink: "americano", toppings: [.pearls])).get()
        }
        #expect(throws: OrderLineProblem.sugarNotAllowed(drink: "americano", sugar: 50)) {
            try Catalog.price(OrderLine(drink: "americano", sugar: 50)).get()
        }
        #expect(throws: OrderLineProblem.sugarNotAllowed(drink: "taro milk tea", sugar: 40)) {
            try Catalog.price(OrderLine(drink: "taro milk tea", sugar: 40)).get()
        }
        #expect(throws: OrderLineProblem.unknownDrink("bubble soup")) { try Catalog.price(OrderLine(drink: "bubble soup")).get() }
        #expect(throws: OrderLineProblem.badQuantity(0)) { try Catalog.price(OrderLine(drink: "americano", quantity: 0)).get() }
    }
}

@Suite struct GeoIndexTests {
    /// A deterministic generator so failures reproduce.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    func cityPoints(_ count: Int, _ random: inout SplitMix) -> [GeoPoint] {
        (0..<count).map { index in
            // A dense centre and sparse suburbs around Shanghai's People's Square.
            let spread = index % 4 == 0 ? 0.25 : 0.04
            return GeoPoint(
                lat: 31.2304 + Double.random(in: -spread...spread, using: &random),
                lng: 121.4737 + Double.random(in: -spread...spread, using: &random))
        }
    }

    @Test func nearestMatchesBruteForceOnRandomPoints() {
        var random = SplitMix(state: 7)
        let points = cityPoints(8_000, &random)
        let index = GeoIndex(points: points)
        for _ in 0..<100 {
            let query = GeoPoint(
                lat: 31.2304 + Double.random(in: -0.3...0.3, using: &random),
                lng: 121.4737 + Double.random(in: -0.3...0.3, using: &random))
            let found = index.nearest(to: query, k: 10)
            let brute = points.indices.map { ($0, query.distance(to: points[$0])) }.sorted { $0.1 < $1.1 }.prefix(10)
            #expect(found.count == 10)
            #expect(found.map(\.meters) == found.map(\.meters).sorted())
            // Coordinates are stored as Float: distances agree to well under a metre.
            for (got, want) in zip(found, brute) { #expect(abs(got.meters - want.1) < 1) }
        }
    }

    @Test func aRadiusLimitsTheAnswer() {
        var random = SplitMix(state: 11)
        let points = cityPoints(5_000, &random)
        let index = GeoIndex(points: points)
        let centre = GeoPoint(lat: 31.2304, lng: 121.4737)
        let found = index.nearest(to: centre, k: 10_000, within: 500)
        let brute = points.filter { centre.distance(to: $0) <= 499 }.count
        #expect(found.allSatisfy { $0.meters <= 500 })
        #expect(found.count >= brute)
        #expect(found.count <= points.filter { centre.distance(to: $0) <= 501 }.count)
    }

    @Test func emptyAndFarAwayQueries() {
        #expect(GeoIndex(points: []).nearest(to: GeoPoint(lat: 0, lng: 0), k: 3).isEmpty)
        let index = GeoIndex(points: [GeoPoint(lat: 31, lng: 121), GeoPoint(lat: 31.01, lng: 121.01)])
        let far = index.nearest(to: GeoPoint(lat: 39.9, lng: 116.4), k: 1)
        #expect(far.first?.id == 1)
    }

    @Test func queriesFarFromTheCityNearPolesOrTheAntimeridianFindNothingWithinTheirRadius() {
        var random = SplitMix(state: 13)
        let points = cityPoints(3_000, &random)
        let index = GeoIndex(points: points)
        let corners = [GeoPoint(lat: -90, lng: -180), GeoPoint(lat: 90, lng: 180), GeoPoint(lat: -89.9, lng: 121.47), GeoPoint(lat: 0, lng: -180)]
        for corner in corners {
            #expect(index.nearest(to: corner, k: 1, within: 50_000).isEmpty)
        }
    }
}

@Suite("Gazetteer")
struct GazetteerTests {
    @Test("A typed address is the most precise place it names, in either language",
        arguments: [("南京东路200号", "Nanjing East Road"), ("200 Nanjing East Road", "Nanjing East Road"),
                    ("静安区静安寺对面", "Jing'an Temple"), ("Jing'an Temple, Jing'an District", "Jing'an Temple"),
                    ("人民广场1号", "People's Square"), ("the bund no. 3", "The Bund"), ("浦东世纪公园南门", "Century Park"),
                    ("徐汇区衡山路8号", "Hengshan Road"), ("淮海路", "Huaihai Middle Road")])
    func locates(text: String, place: String) {
        guard case .located(let found) = Gazetteer.locate(text) else {
            Issue.record("\(text) not located")
            return
        }
        #expect(found.english == place, "\(text)")
        #expect(found.point.distance(to: DemoCity.centre) < Gazetteer.deliveryRadiusMetres)
    }

    @Test("A place beyond the delivery area is named with its distance; an unknown one is unknown")
    func outsideAndUnknown() {
        guard case .outside(let place, let metres) = Gazetteer.locate("北京天安门广场") else {
            Issue.record("Tiananmen not outside")
            return
        }
        #expect(place.english == "Tiananmen Square")
        #expect(metres > 1_000_000)
        #expect(Gazetteer.locate("送到火星基地三号楼") == .unknown)
        #expect(Gazetteer.locate("") == .unknown)
        #expect(Gazetteer.nearest(to: DemoCity.centre)?.english == "People's Square")
    }
}


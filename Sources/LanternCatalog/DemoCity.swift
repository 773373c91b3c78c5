/// A tea or coffee shop.
public struct Store: Sendable, Equatable {
    /// Stable id, e.g. `m-000042`.
    public var id: String
    /// Display name, brand and branch.
    public var name: String
    /// Brand, in English.
    public var brand: String
    /// Brand, in Chinese.
    public var brandChinese: String
    /// Where it is.
    public var location: GeoPoint
    /// Cups it can make in an hour.
    public var cupsPerHour: Int
    /// Minutes one cup takes from start to counter.
    public var prepMinutes: Int
    /// Opening time, minutes after midnight local time.
    public var opensAtMinute: Int
    /// Closing time, minutes after midnight local time.
    public var closesAtMinute: Int
    /// Its prices relative to the catalog, in per mille (1000 = catalog price).
    public var pricePermille: Int64
    /// Drinks on its menu, by canonical name, in catalog order.
    public var drinks: [String]

    /// Creates a store.
    public init(
        id: String, name: String, brand: String, brandChinese: String, location: GeoPoint, cupsPerHour: Int,
        prepMinutes: Int, opensAtMinute: Int, closesAtMinute: Int, pricePermille: Int64, drinks: [String]
    ) {
        self.id = id
        self.name = name
        self.brand = brand
        self.brandChinese = brandChinese
        self.location = location
        self.cupsPerHour = cupsPerHour
        self.prepMinutes = prepMinutes
        self.opensAtMinute = opensAtMinute
        self.closesAtMinute = closesAtMinute
        self.pricePermille = pricePermille
        self.drinks = drinks
    }

    /// Whether it is open at `minute` after midnight.
    public func isOpen(atMinute minute: Int) -> Bool { minute >= opensAtMinute && minute < closesAtMinute }

    /// The store's price for a priced catalog line: scaled and rounded to the jiao (10 fen).
    public func price(_ priced: PricedLine) -> (unitFen: Int64, totalFen: Int64) {
        let unit = (priced.unitPriceFen * pricePermille + 5_000) / 10_000 * 10
        return (unit, unit * Int64(priced.line.quantity))
    }
}

/// A brand of the demo city.
struct Brand {
    let english: String
    let chinese: String
    let pricePermille: Int64
    let drinks: [String]
    let cupsPerHour: ClosedRange<Int>
}

/// A deterministic demo city: stores of several fictional brands, dense in the centre and
/// sparse in the suburbs, with opening hours, capacity and menus drawn from the catalog.
public enum DemoCity {
    /// The centre of the demo city (People's Square, Shanghai).
    public static let centre = GeoPoint(lat: 31.2304, lng: 121.4737)

    /// Brand names, English and Chinese.
    public static var brandNames: [(english: String, chinese: String)] { brands.map { ($0.english, $0.chinese) } }

    static let brands: [Brand] = {
        let all = Catalog.drinks.map(\.name)
        let milk = Array(all[0..<8])
        let fruit = Array(all[8..<17])
        let coffee = Array(all[17...])
        return [
            Brand(english: "Lantern Tea", chinese: "灯笼茶", pricePermille: 1_000, drinks: milk + fruit, cupsPerHour: 60...120),
            Brand(english: "Jade Leaf", chinese: "玉叶", pricePermille: 1_150, drinks: fruit + ["cheese foam oolong"], cupsPerHour: 50...90),
            Brand(english: "Moon Pearl", chinese: "月珠", pricePermille: 850, drinks: milk + Array(fruit.prefix(4)), cupsPerHour: 80...160),
            Brand(english: "Cloud Cup", chinese: "云杯", pricePermille: 1_000, drinks: all, cupsPerHour: 60...100),
            Brand(english: "Bean Street", chinese: "豆街", pricePermille: 1_100, drinks: coffee + ["lemon black tea"], cupsPerHour: 40...80),
        ]
    }()

    private static let branches = ["Central", "Riverside", "Station", "Park", "Market", "Campus", "Harbour", "Garden", "Plaza", "Tower"]

    /// `count` stores generated from `seed`: the same arguments always give the same city.
    public static func stores(count: Int, seed: UInt64) -> [Store] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { index in
            let brand = brands[Int(random.next() % UInt64(brands.count))]
            // Three in four stores within ~5 km of the centre, the rest up to ~30 km out.
            let spread = random.next() % 4 == 0 ? 0.27 : 0.045
            let location = GeoPoint(
                lat: centre.lat + random.unit(in: -spread...spread), lng: centre.lng + random.unit(in: -spread...spread))
            let capacity = brand.cupsPerHour.lowerBound
                + Int(random.next() % UInt64(brand.cupsPerHour.upperBound - brand.cupsPerHour.lowerBound + 1))
            let opens = [7 * 60, 8 * 60, 9 * 60, 10 * 60][Int(random.next() % 4)]
            let closes = [21 * 60, 22 * 60, 23 * 60, 24 * 60][Int(random.next() % 4)]
            let branch = branches[index % branches.count]
            return Store(
                id: Self.id(index), name: "\(brand.english) \(branch) #\(index + 1)", brand: brand.english,
                brandChinese: brand.chinese, location: location, cupsPerHour: capacity,
                prepMinutes: 3 + Int(random.next() % 5), opensAtMinute: opens, closesAtMinute: closes,
                pricePermille: brand.pricePermille, drinks: brand.drinks)
        }
    }

    /// The id of the `index`-th store.
    public static func id(_ index: Int) -> String {
        let digits = String(index)
        return "m-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }
}

/// A small, fast, seedable generator (Steele, Lea and Flood's SplitMix64).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Starts the sequence at `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniformly distributed value in `range`.
    public mutating func unit(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + Double(next() >> 11) / Double(1 << 53) * (range.upperBound - range.lowerBound)
    }
}

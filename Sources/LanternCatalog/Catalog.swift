/// Cup size.
public enum CupSize: String, Sendable, CaseIterable, Codable {
    /// 中杯
    case medium
    /// 大杯
    case large

    /// The Chinese name.
    public var chinese: String { self == .medium ? "中杯" : "大杯" }
}

/// Ice or temperature.
public enum IceLevel: String, Sendable, CaseIterable, Codable {
    /// 去冰
    case none
    /// 少冰
    case less
    /// 正常冰
    case normal
    /// 常温
    case room
    /// 温
    case warm
    /// 热
    case hot

    /// The Chinese name.
    public var chinese: String {
        switch self {
        case .none: "去冰"
        case .less: "少冰"
        case .normal: "正常冰"
        case .room: "常温"
        case .warm: "温"
        case .hot: "热"
        }
    }

    /// The English name, as a quote says it.
    public var english: String {
        switch self {
        case .none: "no ice"
        case .less: "less ice"
        case .normal: "normal ice"
        case .room: "room temperature"
        case .warm: "warm"
        case .hot: "hot"
        }
    }
}

/// Something added on top of a drink.
public enum Topping: String, Sendable, CaseIterable, Codable {
    /// 珍珠
    case pearls
    /// 椰果
    case coconutJelly = "coconut jelly"
    /// 布丁
    case pudding
    /// 红豆
    case redBean = "red bean"
    /// 仙草
    case grassJelly = "grass jelly"
    /// 芝士奶盖
    case cheeseFoam = "cheese foam"
    /// 芋圆
    case taroBalls = "taro balls"
    /// 西米
    case sago

    /// The topping a menu name stands for: its English name (in any case) or its Chinese name.
    public init?(called text: String) {
        guard let topping = Topping(rawValue: text.lowercased()) ?? Topping.allCases.first(where: { $0.chinese == text }) else {
            return nil
        }
        self = topping
    }

    /// The Chinese name.
    public var chinese: String {
        switch self {
        case .pearls: "珍珠"
        case .coconutJelly: "椰果"
        case .pudding: "布丁"
        case .redBean: "红豆"
        case .grassJelly: "仙草"
        case .cheeseFoam: "芝士奶盖"
        case .taroBalls: "芋圆"
        case .sago: "西米"
        }
    }

    /// Price of one portion, in fen.
    public var priceFen: Int64 {
        switch self {
        case .cheeseFoam: 500
        case .pudding, .taroBalls: 300
        default: 200
        }
    }
}

/// Sugar levels, in percent of standard: 0 无糖, 30 微糖, 50 半糖, 70 少糖, 100 全糖.
public let sugarLevels = [0, 30, 50, 70, 100]

/// A drink of the canonical catalog every menu draws on.
public struct Drink: Sendable, Equatable {
    /// Canonical English name, also its id.
    public var name: String
    /// Chinese name.
    public var chinese: String
    /// Price of a medium cup, in fen.
    public var priceFen: Int64
    /// Extra for a large cup, in fen.
    public var largeExtraFen: Int64
    /// Ice and temperatures it can be made with.
    public var ice: [IceLevel]
    /// Toppings it can take (empty: none).
    public var toppings: [Topping]
    /// Whether its sweetness can be chosen.
    public var sugarChoice: Bool
    /// Defaults when the customer says nothing.
    public var defaultSize: CupSize
    /// Default ice.
    public var defaultIce: IceLevel
    /// Default sugar, percent.
    public var defaultSugar: Int
}

/// The canonical catalog.
public enum Catalog {
    private static let cold: [IceLevel] = [.none, .less, .normal]
    private static let any: [IceLevel] = IceLevel.allCases
    private static let milkToppings: [Topping] = Topping.allCases
    private static let fruitToppings: [Topping] = [.coconutJelly, .sago, .grassJelly, .cheeseFoam, .pearls]

    /// Every drink, in menu order.
    public static let drinks: [Drink] = [
        milkTea("pearl milk tea", "珍珠奶茶", 1_500),
        milkTea("brown sugar pearl milk", "黑糖珍珠鲜奶", 1_900),
        milkTea("taro milk tea", "芋泥奶茶", 1_800),
        milkTea("oolong milk tea", "乌龙奶茶", 1_600),
        milkTea("jasmine milk green tea", "茉莉奶绿", 1_500),
        milkTea("hong kong milk tea", "港式奶茶", 1_600),
        milkTea("red bean milk tea", "红豆奶茶", 1_600),
        Drink(
            name: "cheese foam oolong", chinese: "芝士乌龙", priceFen: 1_800, largeExtraFen: 300, ice: any,
            toppings: milkToppings, sugarChoice: true, defaultSize: .medium, defaultIce: .normal, defaultSugar: 50),
        tea("jasmine green tea", "茉莉绿茶", 1_200),
        tea("lemon black tea", "柠檬红茶", 1_300),
        Drink(
            name: "fresh lemon water", chinese: "柠檬水", priceFen: 600, largeExtraFen: 200, ice: cold + [.room],
            toppings: [], sugarChoice: true, defaultSize: .medium, defaultIce: .normal, defaultSugar: 70),
        fruit("mango pomelo sago", "杨枝甘露", 2_000),
        fruit("cheese grape fruit tea", "多肉葡萄", 2_200),
        fruit("peach oolong tea", "桃桃乌龙", 1_800),
        fruit("passion fruit green tea", "百香果绿茶", 1_500),
        fruit("strawberry fruit tea", "草莓果茶", 1_900),
        fruit("yakult green tea", "养乐多绿茶", 1_600),
        coffee("matcha latte", "抹茶拿铁", 1_900, toppings: [.pearls, .cheeseFoam]),
        coffee("coconut latte", "生椰拿铁", 1_900, toppings: []),
        coffee("americano", "美式咖啡", 1_500, toppings: []),
    ]

    private static let byName: [String: Drink] = Dictionary(uniqueKeysWithValues: drinks.map { ($0.name, $0) })

    /// The drink with that canonical English name.
    public static func drink(named name: String) -> Drink? { byName[name] }

    /// The drink a menu name stands for: its canonical English name (which is its id, in any
    /// case) or its Chinese name, as `get_menu` lists them.
    public static func drink(called text: String) -> Drink? {
        byName[text] ?? byName[text.lowercased()] ?? byChinese[text]
    }

    private static let byChinese: [String: Drink] = Dictionary(uniqueKeysWithValues: drinks.map { ($0.chinese, $0) })

    /// The topping a drink cannot be made without (pearl milk tea's pearls, mango pomelo sago's
    /// sago): when a store is out of it, the drink is out too.
    public static func definingTopping(of drink: String) -> Topping? {
        switch drink {
        case "pearl milk tea", "brown sugar pearl milk": .pearls
        case "red bean milk tea": .redBean
        case "mango pomelo sago": .sago
        case "cheese foam oolong", "cheese grape fruit tea": .cheeseFoam
        default: nil
        }
    }

    /// Most cups of one drink an order line may ask for: a store makes a line in one go.
    public static let maximumCupsPerLine = 20

    private static func milkTea(_ name: String, _ chinese: String, _ price: Int64) -> Drink {
        Drink(
            name: name, chinese: chinese, priceFen: price, largeExtraFen: 300, ice: any, toppings: milkToppings,
            sugarChoice: true, defaultSize: .medium, defaultIce: .normal, defaultSugar: 70)
    }

    private static func tea(_ name: String, _ chinese: String, _ price: Int64) -> Drink {
        Drink(
            name: name, chinese: chinese, priceFen: price, largeExtraFen: 200, ice: any, toppings: fruitToppings,
            sugarChoice: true, defaultSize: .medium, defaultIce: .normal, defaultSugar: 50)
    }

    /// Fruit teas are made cold: no hot cheese grape.
    private static func fruit(_ name: String, _ chinese: String, _ price: Int64) -> Drink {
        Drink(
            name: name, chinese: chinese, priceFen: price, largeExtraFen: 300, ice: cold + [.room],
            toppings: fruitToppings, sugarChoice: true, defaultSize: .large, defaultIce: .normal, defaultSugar: 70)
    }

    private static func coffee(_ name: String, _ chinese: String, _ price: Int64, toppings: [Topping]) -> Drink {
        Drink(
            name: name, chinese: chinese, priceFen: price, largeExtraFen: 400, ice: any, toppings: toppings,
            sugarChoice: name != "americano", defaultSize: .medium, defaultIce: .normal,
            defaultSugar: name == "americano" ? 0 : 50)
    }
}

/// One line of an order as a customer or assistant states it; `nil` takes the drink's default.
public struct OrderLine: Sendable, Equatable, Codable {
    /// Canonical drink name.
    public var drink: String
    /// Cup size.
    public var size: CupSize?
    /// Sugar percent, one of `sugarLevels`.
    public var sugar: Int?
    /// Ice or temperature.
    public var ice: IceLevel?
    /// Toppings asked for on top.
    public var toppings: [Topping]
    /// Cups.
    public var quantity: Int

    /// Creates an order line.
    public init(
        drink: String, size: CupSize? = nil, sugar: Int? = nil, ice: IceLevel? = nil, toppings: [Topping] = [],
        quantity: Int = 1
    ) {
        self.drink = drink
        self.size = size
        self.sugar = sugar
        self.ice = ice
        self.toppings = toppings
        self.quantity = quantity
    }
}

/// Why an order line cannot be made.
public enum OrderLineProblem: Error, Sendable, Equatable {
    /// No such drink in the catalog.
    case unknownDrink(String)
    /// The drink cannot be made with that ice or temperature.
    case iceNotAllowed(drink: String, ice: IceLevel)
    /// The drink takes no such topping.
    case toppingNotAllowed(drink: String, topping: Topping)
    /// Not one of the sugar levels, or sweetness is fixed for this drink.
    case sugarNotAllowed(drink: String, sugar: Int)
    /// Quantity outside 1…20.
    case badQuantity(Int)
}

/// An order line with every choice made and its price: as the catalog prices it, and, priced
/// from a store's menu, as an order keeps it in the ledger.
public struct PricedLine: Sendable, Equatable {
    /// The line with defaults filled in.
    public var line: OrderLine
    /// Price of one cup with its toppings, in fen.
    public var unitPriceFen: Int64

    /// Creates a priced line.
    public init(line: OrderLine, unitPriceFen: Int64) {
        self.line = line
        self.unitPriceFen = unitPriceFen
    }

    /// `unitPriceFen × quantity`.
    public var totalFen: Int64 { unitPriceFen * Int64(line.quantity) }
}

extension Catalog {
    /// Checks a line against the catalog, fills in defaults and prices it from the catalog alone.
    public static func price(_ line: OrderLine) -> Result<PricedLine, OrderLineProblem> {
        guard let drink = drink(named: line.drink) else { return .failure(.unknownDrink(line.drink)) }
        guard (1...maximumCupsPerLine).contains(line.quantity) else { return .failure(.badQuantity(line.quantity)) }
        let ice = line.ice ?? drink.defaultIce
        guard drink.ice.contains(ice) else { return .failure(.iceNotAllowed(drink: drink.name, ice: ice)) }
        let sugar = line.sugar ?? drink.defaultSugar
        guard sugarLevels.contains(sugar), drink.sugarChoice || sugar == drink.defaultSugar else {
            return .failure(.sugarNotAllowed(drink: drink.name, sugar: sugar))
        }
        for topping in line.toppings where !drink.toppings.contains(topping) {
            return .failure(.toppingNotAllowed(drink: drink.name, topping: topping))
        }
        let size = line.size ?? drink.defaultSize
        let unit = drink.priceFen + (size == .large ? drink.largeExtraFen : 0) + line.toppings.reduce(0) { $0 + $1.priceFen }
        var filled = line
        filled.size = size
        filled.ice = ice
        filled.sugar = sugar
        return .success(PricedLine(line: filled, unitPriceFen: unit))
    }
}

import LanternCatalog

/// One meaningful unit of an order sentence, as the lexer reads it.
enum OrderToken: Sendable, Equatable {
    /// A drink of the catalog, by canonical name.
    case drink(String)
    /// "奶茶", "milk tea", "bubble tea": some milk tea, not yet which.
    case someMilkTea
    /// "饮料", "a drink": some drink, not yet which.
    case someDrink
    /// A cup size.
    case size(CupSize)
    /// Sugar percent.
    case sugar(Int)
    /// Ice or temperature.
    case ice(IceLevel)
    /// A topping.
    case topping(Topping)
    /// How many cups.
    case quantity(Int)
    /// "和", "and", "+", a comma: what follows may be about another drink.
    case separator
    /// "加", "with", "extra": toppings for the drink just named.
    case with
    /// "都", "both", "all": what follows applies to every drink named so far.
    case everyDrink
    /// "第二个", "the second one": picks one of the offered choices.
    case choice(Int)
    /// "another", "再来": a new cup follows, even of a drink already named.
    case another
    /// "no", "不要", "without": the toppings that follow come off.
    case without
    /// "the", "那杯": what follows names a drink already ordered, perhaps by a word of its name ("the sago").
    case definite
    /// A brand of the demo city, by its English name: the store to order from.
    case brand(String)
    /// "from …", "在…点": the store's name follows.
    case storeMarker
    /// "送到", "deliver to": the address follows.
    case addressMarker
    /// A word that means nothing for the order but hides a marker ("现在" holds "在").
    case filler
}

/// A prefix tree over Unicode scalars mapping phrases to what they mean.
struct PhraseTrie: Sendable {
    private var children: [[UInt32: Int32]] = [[:]]
    private var meanings: [Int32] = [-1]
    private(set) var tokens: [[OrderToken]] = []

    /// Adds `phrase` (already normalised) meaning `tokens`; a later entry for the same phrase wins.
    mutating func insert(_ phrase: String, _ tokens: [OrderToken]) {
        var node = 0
        for scalar in phrase.unicodeScalars {
            if let next = children[node][scalar.value] {
                node = Int(next)
            } else {
                children.append([:])
                meanings.append(-1)
                children[node][scalar.value] = Int32(children.count - 1)
                node = children.count - 1
            }
        }
        self.tokens.append(tokens)
        meanings[node] = Int32(self.tokens.count - 1)
    }

    /// The longest phrase starting at `start` that ends on a word boundary: its end and meaning.
    func longestMatch(in text: [UInt32], from start: Int) -> (end: Int, tokens: [OrderToken])? {
        var node = 0
        var best: (end: Int, meaning: Int)?
        var index = start
        while index < text.count, let next = children[node][text[index]] {
            node = Int(next)
            index += 1
            let meaning = meanings[node]
            if meaning >= 0, !(isWordScalar(text[index - 1]) && index < text.count && isWordScalar(text[index])) {
                best = (index, Int(meaning))
            }
        }
        return best.map { ($0.end, tokens[$0.meaning]) }
    }
}

/// ASCII letters and digits: the scalars that make up English words and numbers.
@inline(__always)
func isWordScalar(_ scalar: UInt32) -> Bool {
    (scalar >= 0x61 && scalar <= 0x7A) || (scalar >= 0x30 && scalar <= 0x39)
}

/// Every phrase the parser knows, in both languages, with common aliases and misspellings.
enum Lexicon {
    /// The compiled phrase table.
    static let trie: PhraseTrie = build()

    /// Every English word that appears in a phrase: what misspelled words are corrected towards.
    static let englishWords: Set<String> = {
        var words = Set<String>()
        for (phrase, _) in entries() {
            for word in phrase.split(whereSeparator: { !$0.isLetter || !$0.isASCII }) where word.count >= 3 {
                words.insert(String(word))
            }
        }
        return words
    }()

    private static func build() -> PhraseTrie {
        var trie = PhraseTrie()
        for (phrase, tokens) in entries() { trie.insert(phrase, tokens) }
        return trie
    }

    private static let chineseNumbers: [(String, Int)] = [
        ("一", 1), ("二", 2), ("两", 2), ("三", 3), ("四", 4), ("五", 5), ("六", 6), ("七", 7), ("八", 8), ("九", 9),
        ("俩", 2), ("仨", 3),
    ] + (10...999).map { (chineseNumeral($0), $0) } + [("两百", 200), ("两千", 2_000), ("一千", 1_000), ("一万", 10_000)]

    /// 10 → 十, 25 → 二十五, 100 → 一百, 305 → 三百零五: how a number of cups is written in words.
    private static func chineseNumeral(_ number: Int) -> String {
        let digits = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"]
        let hundreds = number / 100, tens = number / 10 % 10, ones = number % 10
        var text = hundreds > 0 ? digits[hundreds] + "百" : ""
        if tens > 0 {
            text += (hundreds == 0 && tens == 1 ? "" : digits[tens]) + "十"
        } else if hundreds > 0, ones > 0 {
            text += "零"
        }
        if ones > 0 { text += digits[ones] }
        return text
    }

    private static let englishNumbers: [(String, Int)] = [
        ("one", 1), ("a", 1), ("an", 1), ("single", 1), ("two", 2), ("a couple of", 2), ("couple of", 2),
        ("a couple", 2), ("a pair of", 2), ("both of", 2), ("three", 3), ("four", 4), ("five", 5), ("six", 6),
        ("seven", 7), ("eight", 8), ("nine", 9), ("ten", 10), ("eleven", 11), ("twelve", 12), ("a dozen", 12),
        ("dozen", 12), ("fifteen", 15), ("twenty", 20), ("thirty", 30), ("fifty", 50), ("a hundred", 100),
        ("one hundred", 100), ("hundred", 100), ("a thousand", 1_000),
    ]

    /// Drink aliases: canonical name and Chinese name come from the catalog, these are the rest.
    private static let drinkAliases: [String: [String]] = [
        "pearl milk tea": [
            "珍奶", "波霸奶茶", "珍珠奶", "珍株奶茶", "真珠奶茶", "boba milk tea", "bubble milk tea", "pearl tea",
            "boba tea", "tapioca milk tea", "pearl milktea", "boba milktea",
        ],
        "brown sugar pearl milk": [
            "黑糖珍珠鲜奶", "黑糖珍珠奶", "黑糖珍珠", "黑糖波霸", "黑糖鲜奶", "黑糖奶", "黑糖珍奶", "黑糖珍珠奶茶",
            "brown sugar boba milk", "brown sugar boba", "brown sugar milk", "brown sugar pearl milk tea",
            "brown sugar boba milk tea", "brown sugar pearl", "tiger milk",
        ],
        "taro milk tea": ["芋泥", "芋头奶茶", "芋泥波波奶茶", "香芋奶茶", "taro", "taro tea", "taro milktea"],
        "oolong milk tea": ["乌龙奶", "oolong milktea", "oolong latte"],
        "jasmine milk green tea": [
            "奶绿", "茉香奶绿", "茉莉奶绿茶", "jasmine milk tea", "milk green tea", "jasmine milk green",
            "jasmine green milk tea", "green milk tea",
        ],
        "hong kong milk tea": [
            "港奶", "丝袜奶茶", "港式丝袜奶茶", "hk milk tea", "hk奶茶", "hongkong milk tea", "hk style milk tea",
            "hong kong style milk tea", "hk milktea",
        ],
        "red bean milk tea": ["红豆奶", "red bean tea", "redbean milk tea"],
        "cheese foam oolong": ["芝士乌龙茶", "奶盖乌龙", "cheese oolong", "cheese foam oolong tea", "cheese tea"],
        "jasmine green tea": ["茉莉花茶", "绿茶", "jasmine tea", "green tea", "jasmin tea"],
        "lemon black tea": ["柠檬茶", "柠檬红", "红茶", "black tea", "lemon tea", "lemon black", "black tea with lemon"],
        "fresh lemon water": ["柠檬水", "鲜柠檬水", "冰鲜柠檬水", "lemon water", "lemonade", "lemon juice"],
        "mango pomelo sago": ["杨枝甘露", "芒果西米露", "mango sago", "mango pomelo", "mango pomelo sago drink"],
        "cheese grape fruit tea": ["多肉葡萄冻", "葡萄果茶", "芝士葡萄", "cheese grape", "grape fruit tea", "grape tea"],
        "peach oolong tea": ["桃桃乌龙", "白桃乌龙", "蜜桃乌龙", "peach oolong", "peach tea"],
        "passion fruit green tea": ["百香果", "百香果茶", "百香绿", "passion fruit tea", "passionfruit green tea", "passion fruit"],
        "strawberry fruit tea": ["草莓茶", "草莓果茶", "strawberry tea", "strawberry"],
        "yakult green tea": ["养乐多", "多多绿", "多多绿茶", "yakult", "yakult tea", "yakult green", "yakult 绿茶", "yakult绿茶"],
        "matcha latte": ["抹茶", "抹茶奶", "matcha", "green tea latte"],
        "coconut latte": ["生椰", "椰子拿铁", "生椰咖啡", "coconut coffee", "coconut milk latte"],
        "americano": ["美式", "美式咖啡", "americano coffee", "black coffee", "americana"],
    ]

    private static let toppingAliases: [Topping: [String]] = [
        .pearls: ["珍珠", "波霸", "小料珍珠", "pearls", "pearl", "boba", "tapioca", "tapioca pearls", "bubbles"],
        .coconutJelly: ["椰果", "coconut jelly", "coconut jellies", "nata de coco"],
        .pudding: ["布丁", "pudding", "puddings", "egg pudding"],
        .redBean: ["红豆", "red bean", "red beans", "azuki"],
        .grassJelly: ["仙草", "烧仙草", "grass jelly"],
        .cheeseFoam: ["芝士奶盖", "奶盖", "芝士", "cheese foam", "milk foam", "cheese cream", "cheese"],
        .taroBalls: ["芋圆", "taro balls", "taro ball"],
        .sago: ["西米", "西米露", "sago"],
    ]

    private static let sizes: [(String, CupSize)] = [
        ("中杯", .medium), ("中份", .medium), ("小杯", .medium), ("medium", .medium), ("regular size", .medium),
        ("regular cup", .medium), ("small", .medium), ("med", .medium), ("medium size", .medium),
        ("大杯", .large), ("超大杯", .large), ("大份", .large), ("large", .large), ("big", .large),
        ("large size", .large), ("larg", .large), ("grande", .large), ("venti", .large), ("大的", .large), ("大一点的", .large),
        ("中的", .medium), ("小的", .medium),
    ] + ["m", "l", "xl"].flatMap { letter -> [(String, CupSize)] in
        // Size letters only where they cannot be anything else: "M杯", "size M", "L size", "size要L".
        let size: CupSize = letter == "m" ? .medium : .large
        return ["\(letter)杯", "\(letter) 杯", "\(letter)号", "size \(letter)", "\(letter) size", "size要\(letter)",
                "size:\(letter)", "size: \(letter)", "\(letter)码", "大小\(letter)", "要\(letter)杯"].map { ($0, size) }
    }

    private static let sugars: [(String, Int)] = [
        ("无糖", 0), ("不要糖", 0), ("不加糖", 0), ("去糖", 0), ("零糖", 0), ("0糖", 0), ("不放糖", 0), ("不甜", 0),
        ("no sugar", 0), ("sugar free", 0), ("sugarfree", 0), ("unsweetened", 0), ("zero sugar", 0),
        ("without sugar", 0), ("not sweet", 0),
        ("微糖", 30), ("微甜", 30), ("一点点糖", 30), ("little sugar", 30), ("a little sugar", 30),
        ("slightly sweet", 30), ("light sugar", 30), ("a bit of sugar", 30), ("low sugar", 30), ("quarter sugar", 30),
        ("半糖", 50), ("半甜", 50), ("half sugar", 50), ("half sweet", 50), ("half sweetness", 50),
        ("half the sugar", 50), ("medium sugar", 50), ("medium sweet", 50),
        ("少糖", 70), ("少甜", 70), ("少一点糖", 70), ("less sugar", 70), ("less sweet", 70),
        ("less sweetness", 70), ("reduced sugar", 70), ("a bit less sugar", 70), ("not too sweet", 70),
        ("全糖", 100), ("标准糖", 100), ("正常糖", 100), ("正常甜", 100), ("多糖", 100), ("全甜", 100),
        ("full sugar", 100), ("regular sugar", 100), ("normal sugar", 100), ("standard sugar", 100),
        ("full sweet", 100), ("fully sweet", 100), ("regular sweet", 100), ("normal sweetness", 100), ("extra sweet", 100),
    ]

    private static let ices: [(String, IceLevel)] = [
        ("去冰", .none), ("不要冰", .none), ("不加冰", .none), ("无冰", .none), ("走冰", .none), ("去冰的", .none),
        ("no ice", .none), ("without ice", .none), ("ice free", .none), ("zero ice", .none), ("hold the ice", .none),
        ("少冰", .less), ("微冰", .less), ("少少冰", .less), ("less ice", .less), ("light ice", .less),
        ("little ice", .less), ("a little ice", .less), ("easy ice", .less), ("low ice", .less),
        ("正常冰", .normal), ("标准冰", .normal), ("多冰", .normal), ("加冰", .normal), ("冰的", .normal),
        ("regular ice", .normal), ("normal ice", .normal), ("with ice", .normal), ("iced", .normal),
        ("standard ice", .normal), ("full ice", .normal), ("extra ice", .normal), ("cold", .normal), ("icy", .normal),
        ("常温", .room), ("室温", .room), ("不冰", .room), ("常温的", .room), ("room temperature", .room),
        ("room temp", .room), ("room", .room), ("not cold", .room),
        ("温的", .warm), ("温热", .warm), ("温", .warm), ("暖的", .warm), ("warm", .warm), ("lukewarm", .warm),
        ("热的", .hot), ("热", .hot), ("加热", .hot), ("烫的", .hot), ("hot", .hot), ("heated", .hot),
    ]

    private static let separators = [
        "和", "跟", "与", "还有", "另外", "以及", "加上", "+", "＋", ",", "，", "、", ";", "；", "。",
        ".", "!", "！", "?", "？", "&", "and", "plus", "also", "then", "and also", "as well as",
    ]

    private static let anotherWords = ["再来", "再要", "再加一杯", "another", "one more", "and another"]

    private static let withoutWords = ["不要", "不加", "去掉", "别加", "不放", "no", "without", "hold the", "remove", "take off", "minus"]

    private static let withWords = ["加", "多加", "加个", "加点", "要加", "with", "extra", "add", "topped with", "with extra", "add extra"]

    private static let everyWords = ["都", "全都", "全部", "都是", "各", "各自", "both", "all", "each", "all of them", "both of them", "every", "of each"]

    private static let definiteWords = ["the", "那杯", "这杯", "那个", "这个"]

    private static let choices: [(String, Int)] = [
        ("第一个", 1), ("第二个", 2), ("第三个", 3), ("第1个", 1), ("第2个", 2), ("第3个", 3), ("第一", 1), ("第二", 2),
        ("第三", 3), ("the first", 1), ("the second", 2), ("the third", 3), ("first one", 1), ("second one", 2),
        ("third one", 3), ("number 1", 1), ("number 2", 2), ("number 3", 3), ("no. 1", 1), ("no. 2", 2), ("no. 3", 3),
        ("#1", 1), ("#2", 2), ("#3", 3),
    ]

    private static let storeMarkers = ["from", "在", "到店"]
    private static let addressMarkers = [
        "送到", "送至", "送去", "配送到", "地址是", "地址:", "地址：", "寄到", "deliver to", "delivered to",
        "deliver it to", "send it to", "send to", "bring it to", "address is", "address:", "deliver them to",
    ]
    /// Words that contain a marker or number character but mean something else.
    private static let fillers = [
        "现在", "正在", "存在", "在线", "一下", "一点", "有点", "一起", "一样", "两个人", "十分", "万一", "一会", "加油",
        "和平", "加班", "第一次", "to go", "at all",
    ]

    /// Plural forms of an English phrase: "milk tea" also as "milk teas".
    private static func withPlural(_ phrase: String) -> [String] {
        guard let last = phrase.unicodeScalars.last, isWordScalar(last.value), phrase.unicodeScalars.allSatisfy(\.isASCII)
        else { return [phrase] }
        return [phrase, phrase + "s", phrase + "es"]
    }

    static func entries() -> [(String, [OrderToken])] {
        var entries: [(String, [OrderToken])] = []
        for phrase in fillers { entries.append((phrase, [.filler])) }
        for phrase in ["奶茶", "milk tea", "milktea", "bubble tea", "boba drink", "珍珠奶茶饮品", "🧋"] {
            for form in withPlural(phrase) { entries.append((form, [.someMilkTea])) }
        }
        for phrase in ["饮料", "饮品", "喝的", "drink", "beverage", "something to drink", "拿铁", "咖啡", "latte", "coffee"] {
            for form in withPlural(phrase) { entries.append((form, [.someDrink])) }
        }
        for topping in Topping.allCases {
            entries.append((topping.chinese, [.topping(topping)]))
            entries.append((topping.rawValue, [.topping(topping)]))
            for alias in toppingAliases[topping, default: []] { entries.append((alias, [.topping(topping)])) }
        }
        for drink in Catalog.drinks {
            for form in withPlural(drink.name) { entries.append((form, [.drink(drink.name)])) }
            entries.append((drink.chinese, [.drink(drink.name)]))
            for alias in drinkAliases[drink.name, default: []] {
                for form in withPlural(alias) { entries.append((form, [.drink(drink.name)])) }
            }
        }
        // Temperature words fused with a drink: 冰美式, 热拿铁.
        for (prefix, ice) in [("冰", IceLevel.normal), ("热", .hot), ("温", .warm)] {
            for (name, drink) in [("美式", "americano"), ("生椰拿铁", "coconut latte"), ("抹茶拿铁", "matcha latte")] {
                entries.append((prefix + name, [.drink(drink), .ice(ice)]))
            }
        }
        for (phrase, size) in sizes { entries.append((phrase, [.size(size)])) }
        for (phrase, sugar) in sugars { entries.append((phrase, [.sugar(sugar)])) }
        for (tenths, sugar) in [(0, 0), (1, 30), (2, 30), (3, 30), (4, 50), (5, 50), (6, 70), (7, 70), (8, 100), (9, 100), (10, 100)] {
            let chinese = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十"][tenths]
            for number in [chinese, String(tenths)] {
                entries.append((number + "分糖", [.sugar(sugar)]))
                entries.append((number + "分甜", [.sugar(sugar)]))
            }
        }
        for (percent, sugar) in [(0, 0), (25, 30), (30, 30), (50, 50), (70, 70), (75, 70), (100, 100)] {
            for form in ["\(percent)%糖", "\(percent)% sugar", "\(percent)%sugar", "sugar \(percent)%", "\(percent)% sweet",
                "\(percent) percent sugar", "\(percent) sugar", "\(percent)%", "sugar \(percent)", "糖\(percent)%"]
            {
                entries.append((form, [.sugar(sugar)]))
            }
        }
        for (phrase, ice) in ices { entries.append((phrase, [.ice(ice)])) }
        for (chinese, number) in chineseNumbers {
            for measure in ["杯", "份", "个"] { entries.append((chinese + measure, [.quantity(number)])) }
        }
        for number in 1...999 {
            for form in ["\(number)", "\(number)杯", "\(number)份", "\(number)x", "x\(number)", "×\(number)", "\(number)×", "\(number) x"] {
                entries.append((form, [.quantity(number)]))
            }
        }
        for (phrase, number) in englishNumbers { entries.append((phrase, [.quantity(number)])) }
        for phrase in ["来杯", "点杯", "要杯", "来一杯", "点一杯", "要一杯", "买杯"] { entries.append((phrase, [.quantity(1)])) }
        for phrase in separators { entries.append((phrase, [.separator])) }
        for phrase in withWords { entries.append((phrase, [.with])) }
        for phrase in everyWords { entries.append((phrase, [.everyDrink])) }
        // "two of each": the count is every drink's, said after the drinks it counts.
        for (phrase, number) in englishNumbers where number <= 12 {
            for form in ["\(phrase) of each", "\(phrase) each"] { entries.append((form, [.everyDrink, .quantity(number)])) }
        }
        for number in 1...20 {
            for form in ["\(number) of each", "\(number) each"] { entries.append((form, [.everyDrink, .quantity(number)])) }
        }
        for phrase in definiteWords { entries.append((phrase, [.definite])) }
        for (phrase, index) in choices { entries.append((phrase, [.choice(index)])) }
        for phrase in anotherWords { entries.append((phrase, [.another])) }
        for phrase in withoutWords { entries.append((phrase, [.without])) }
        for (phrase, number) in [("俩", 2), ("仨", 3)] { entries.append((phrase, [.quantity(number)])) }
        // Brands after everything else: "Moon Pearl" is the store, never pearls.
        for brand in DemoCity.brandNames {
            entries.append((brand.english.lowercased(), [.brand(brand.english)]))
            entries.append((brand.chinese, [.brand(brand.english)]))
        }
        for phrase in storeMarkers { entries.append((phrase, [.storeMarker])) }
        for phrase in addressMarkers { entries.append((phrase, [.addressMarker])) }
        return entries
    }
}

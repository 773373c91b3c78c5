import LanternCatalog

/// One drink as a sentence asked for it: the order line it said, and what it left unsaid.
///
/// The line is the one `OrderLine` the dialogue, pricing, ledger and API use; an option the
/// sentence did not give stays `nil` in it. Only two things a line cannot say are kept beside it:
/// whether a number of cups was said (the head-count and split rules turn on it), and toppings
/// asked to be taken off an earlier line.
public struct ParsedItem: Sendable, Equatable {
    /// The drink as an order line; an unnamed drink ("a milk tea") has an empty name, which the
    /// catalog never prices.
    public var line: OrderLine
    /// Whether the sentence gave a number of cups; if not, the line holds one cup.
    public var countSaid: Bool
    /// Toppings the customer asked to take off ("no pearls", "不要珍珠"): an edit of a drink named before.
    public var removedToppings: [Topping]
    /// While parsing: the drink was named only as "milk tea", so a lone topping may say which.
    var namedMilkTea = false

    /// Creates an item from the line it says.
    public init(_ line: OrderLine, countSaid: Bool = true, removedToppings: [Topping] = []) {
        self.line = line
        self.countSaid = countSaid
        self.removedToppings = removedToppings
    }

    /// An item with nothing said but the drink, if any.
    init(drink: String?) {
        self.init(OrderLine(drink: drink ?? ""), countSaid: false)
    }

    /// Canonical drink name; `nil` for "a milk tea" with no kind named.
    public var drink: String? {
        get { line.drink.isEmpty ? nil : line.drink }
        set { line.drink = newValue ?? "" }
    }

    /// Cups, when a number was said.
    public var quantity: Int? {
        get { countSaid ? line.quantity : nil }
        set {
            countSaid = newValue != nil
            line.quantity = newValue ?? 1
        }
    }

    /// Whether the sentence said anything about this drink besides naming it.
    var hasOptions: Bool {
        line.size != nil || line.sugar != nil || line.ice != nil || !line.toppings.isEmpty || countSaid
            || !removedToppings.isEmpty
    }
}

/// What one sentence asks for.
public struct ParsedOrder: Sendable, Equatable {
    /// The drinks, in the order they were named.
    public var items: [ParsedItem]
    /// The store the customer named, as written.
    public var store: String?
    /// The delivery address the customer named, as written.
    public var address: String?
    /// "第二个" / "the second one": which of the offered choices, counting from 1.
    public var choice: Int?
    /// Words the parser read as other words ("tae" as "tea", "杨枝甘路" as "杨枝甘露"): a guess the
    /// customer should see before confirming.
    public var guesses: [Guess] = []
    /// English words it could not read at all, as written: what to ask about rather than skip.
    public var unread: [String] = []
    /// Whether the drink was named only as "奶茶" / "a drink", with no kind.
    public var isVague: Bool { items.contains { $0.drink == nil } }

    /// Creates a parsed order.
    public init(items: [ParsedItem] = [], store: String? = nil, address: String? = nil, choice: Int? = nil) {
        self.items = items
        self.store = store
        self.address = address
        self.choice = choice
    }
}

/// A word of the sentence the parser read as another.
public struct Guess: Sendable, Equatable {
    /// As the customer wrote it.
    public var written: String
    /// As the parser read it.
    public var read: String

    /// Creates a guess.
    public init(written: String, read: String) {
        self.written = written
        self.read = read
    }
}

/// The offline parser: Chinese, English or mixed sentences to drinks and options, with no model.
///
/// A lexer finds the longest known phrase at each position (English words only on word
/// boundaries, misspelled English words corrected first); an interpreter then attaches
/// options to drinks: options before a drink wait for it, options right after a drink are
/// its own, options after a separator with no drink following belong to the last drink, and
/// options after "都"/"both" belong to every drink named so far.
public enum OrderParser {
    /// Parses one sentence.
    public static func parse(_ text: String) -> ParsedOrder {
        let original = Array(text.unicodeScalars)
        let normalised = normalise(original)
        var mistyped: [Guess] = []
        var captured: [Range<Int>] = []
        var order = interpret(lex(normalised, original: original, guesses: &mistyped, captured: &captured))
        // A word of a typed address or store name is not read as an order word, so it was not guessed at.
        order.guesses = normalised.corrections.filter { correction in !captured.contains { $0.contains(correction.at) } }
            .map(\.guess) + mistyped
        order.unread = unreadWords(normalised, outside: captured)
        return order
    }

    // MARK: Lexing

    fileprivate enum Lexeme: Equatable {
        case token(OrderToken)
        case store(String)
        case address(String)
    }

    /// `text` is the normalised sentence; `text.origin` maps each of its scalars back to `original`,
    /// so captured names and addresses keep the case and spelling the customer wrote.
    private static func lex(_ normalised: Normalised, original: [Unicode.Scalar], guesses: inout [Guess], captured: inout [Range<Int>]) -> [Lexeme] {
        let text = normalised.scalars
        var lexemes: [Lexeme] = []
        var index = 0
        let trie = Lexicon.trie
        let mayBeMistyped = text.contains { confusables[$0] != nil }
        while index < text.count {
            // English words start only at a word's beginning.
            if index > 0, isWordScalar(text[index]), isWordScalar(text[index - 1]) {
                index += 1
                continue
            }
            // A space between Chinese words parts clauses as a comma would: "草莓果茶一杯 草莓果茶少糖".
            if text[index] == 0x20, index > 0, index + 1 < text.count, text[index - 1] >= 0x4E00, text[index + 1] >= 0x4E00 {
                lexemes.append(.token(.separator))
                index += 1
                continue
            }
            var match = trie.longestMatch(in: text, from: index)
            if mayBeMistyped, text[index] >= 0x4E00, let mistyped = mistypedDrink(in: text, from: index),
                mistyped.end > match?.end ?? index || !(match?.tokens.first.map(isDrink) ?? false)
            {
                match = (mistyped.end, mistyped.tokens)
                let written = original[normalised.origin[index]...normalised.origin[mistyped.end - 1]]
                guesses.append(Guess(written: String(String.UnicodeScalarView(written)), read: mistyped.read))
            }
            guard let match else {
                index += 1
                continue
            }
            index = match.end
            switch match.tokens.first {
            case .brand(let name):
                let (store, end) = branch(of: name, in: normalised, original: original, from: index)
                lexemes.append(.store(store))
                index = end
            case .storeMarker:
                // "from Moon Pearl": a known brand is taken whole, not read word by word.
                var next = index
                while next < text.count, text[next] == 0x20 { next += 1 }
                if let article = trie.longestMatch(in: text, from: next), article.tokens == [.definite] {
                    next = article.end
                    while next < text.count, text[next] == 0x20 { next += 1 }
                }
                if let brand = trie.longestMatch(in: text, from: next), case .brand(let name)? = brand.tokens.first {
                    let (store, end) = branch(of: name, in: normalised, original: original, from: brand.end)
                    lexemes.append(.store(store))
                    index = end
                    continue
                }
                let (name, end) = capture(normalised, original: original, from: index, stopAtPhrases: true)
                captured.append(index..<end)
                index = end
                if let name { lexemes.append(.store(name)) }
            case .addressMarker:
                let (address, end) = capture(normalised, original: original, from: index, stopAtPhrases: false)
                captured.append(index..<end)
                index = end
                if let address { lexemes.append(.address(address)) }
            case .filler:
                break
            default:
                for token in match.tokens { lexemes.append(.token(token)) }
            }
        }
        return lexemes
    }

    /// Characters typed for others that sound alike, in the names of drinks: 猪 for 珠, 笼 for 龙, 荼 for 茶.
    private static let confusables: [UInt32: [UInt32]] = {
        let groups: [(String, String)] = [
            ("猪株朱诸竹", "珠"), ("真针", "珍"), ("扬阳羊洋", "杨"), ("只支知汁", "枝"), ("干肝", "甘"), ("路鹿陆录", "露"),
            ("笼隆聋拢", "龙"), ("巫屋污", "乌"), ("荼查搽", "茶"), ("尼呢", "泥"), ("玉鱼雨于", "芋"), ("试是事市示", "式"),
            ("巷", "港"), ("乃", "奶"), ("宏洪虹", "红"), ("逗斗", "豆"), ("淘陶涛", "桃"), ("朵躲", "多"), ("柔", "肉"),
            ("莆蒲", "葡"), ("陶淘", "萄"), ("白柏", "百"), ("相想箱", "香"), ("末莫墨", "茉"), ("利丽力立", "莉"),
            ("律率虑", "绿"), ("样阳羊", "养"), ("了", "乐"), ("之知只支", "芝"), ("是市事", "士"), ("那哪", "拿"),
            ("贴帖", "铁"), ("宁拧凝", "柠"), ("蒙萌盟", "檬"), ("耶爷也", "椰"), ("末沫", "抹"), ("黑嘿", "黑"), ("圣升", "生"),
        ]
        var map: [UInt32: [UInt32]] = [:]
        for (typed, meant) in groups {
            for scalar in typed.unicodeScalars where String(scalar) != meant {
                map[scalar.value, default: []].append(meant.unicodeScalars.first!.value)
            }
        }
        return map
    }()

    private static func isDrink(_ token: OrderToken) -> Bool {
        if case .drink = token { return true }
        return false
    }

    /// A drink's Chinese name of four characters or more, starting at `start`, with one character
    /// typed as another that sounds alike: its end, meaning and the name as read.
    private static func mistypedDrink(in text: [UInt32], from start: Int) -> (end: Int, tokens: [OrderToken], read: String)? {
        let window = Array(text[start..<min(text.count, start + 8)])
        for (offset, scalar) in window.enumerated() {
            for meant in confusables[scalar] ?? [] {
                var fixed = window
                fixed[offset] = meant
                guard let match = Lexicon.trie.longestMatch(in: fixed, from: 0), match.end > offset, match.end >= 4,
                    let first = match.tokens.first, isDrink(first)
                else { continue }
                let read = String(String.UnicodeScalarView(fixed[..<match.end].compactMap(Unicode.Scalar.init)))
                return (start + match.end, match.tokens, read)
            }
        }
        return nil
    }

    /// English words of three letters or more that are neither known nor common and that the
    /// corrector could not place: "cola" in "a cola and a lemon tea".
    private static func unreadWords(_ normalised: Normalised, outside captured: [Range<Int>]) -> [String] {
        wordRanges(normalised.scalars).compactMap { range in
            let word = Array(normalised.scalars[range])
            guard word.count >= 3, !vocabularySet.contains(word), !commonWords.contains(word),
                !captured.contains(where: { $0.contains(range.lowerBound) })
            else { return nil }
            return String(String.UnicodeScalarView(word.compactMap(Unicode.Scalar.init)))
        }
    }

    /// A brand followed by a branch and its number ("Lantern Tea Market #135", "灯笼茶 #135") names
    /// one store: the brand's name, then the rest as written, and where it ends; the brand alone
    /// when no `#number` follows.
    private static func branch(
        of brand: String, in normalised: Normalised, original: [Unicode.Scalar], from start: Int
    ) -> (String, Int) {
        let text = normalised.scalars
        var index = start
        while index < text.count, text[index] == 0x20 { index += 1 }
        var word = index
        while word < text.count, isLetter(text[word]) { word += 1 }
        var hash = word
        while hash < text.count, text[hash] == 0x20 { hash += 1 }
        guard hash < text.count, text[hash] == 0x23, hash + 1 < text.count, (0x30...0x39).contains(text[hash + 1]) else {
            return (brand, start)
        }
        var end = hash + 1
        while end < text.count, (0x30...0x39).contains(text[end]) { end += 1 }
        let rest = original[normalised.origin[index]...normalised.origin[end - 1]]
        return (brand + " " + String(String.UnicodeScalarView(rest)), end)
    }

    /// Text after a store or address marker: up to a clause break (and, for a store, up to the
    /// next known phrase or ordering verb), trimmed; `nil` if empty.
    private static func capture(
        _ normalised: Normalised, original: [Unicode.Scalar], from start: Int, stopAtPhrases: Bool
    ) -> (String?, Int) {
        let text = normalised.scalars
        var end = start
        let clauseBreaks: Set<UInt32> = [0xFF0C, 0x3002, 0xFF1B, 0x3B, 0xFF01, 0x21, 0xFF1F, 0x3F]  // ，。；;！!？?
        let orderVerbs: Set<UInt32> = [0x70B9, 0x4E70, 0x8981, 0x6765, 0x8BA2, 0x4E0B, 0x5E2E, 0x7ED9]  // 点买要来订下帮给
        while end < text.count {
            let scalar = text[end]
            if clauseBreaks.contains(scalar) { break }
            if stopAtPhrases {
                if orderVerbs.contains(scalar) || scalar == 0x2C || scalar == 0x2B { break }
                let atWordStart = end == start || !isWordScalar(text[end - 1]) || !isWordScalar(scalar)
                if end > start, atWordStart, let match = Lexicon.trie.longestMatch(in: text, from: end),
                    match.tokens.first != .filler
                {
                    break
                }
            }
            end += 1
        }
        guard end > start else { return (nil, end) }
        let slice = original[normalised.origin[start]...normalised.origin[end - 1]]
        var captured = String(String.UnicodeScalarView(slice))
        while let first = captured.first, first == " " || first == ":" || first == "：" { captured.removeFirst() }
        while let last = captured.last, last == " " || last == "的" { captured.removeLast() }
        return (captured.isEmpty ? nil : captured, end)
    }

    // MARK: Interpreting

    private struct Options {
        var size: CupSize?
        var sugar: Int?
        var ice: IceLevel?
        var toppings: [Topping] = []
        var quantity: Int?
        var removed: [Topping] = []

        /// The options a line holds, with no count.
        static func of(_ line: OrderLine) -> Options {
            Options(size: line.size, sugar: line.sugar, ice: line.ice, toppings: line.toppings)
        }

        var isEmpty: Bool { size == nil && sugar == nil && ice == nil && toppings.isEmpty && quantity == nil && removed.isEmpty }

        /// These options, then `later` over them.
        func merging(_ later: Options) -> Options {
            var item = ParsedItem(drink: nil)
            apply(to: &item)
            later.apply(to: &item)
            return Options(
                size: item.line.size, sugar: item.line.sugar, ice: item.line.ice, toppings: item.line.toppings,
                quantity: item.quantity, removed: item.removedToppings)
        }

        func apply(to item: inout ParsedItem) {
            if let size { item.line.size = size }
            if let sugar { item.line.sugar = sugar }
            if let ice { item.line.ice = ice }
            if let quantity { item.quantity = quantity }
            for topping in toppings where !item.line.toppings.contains(topping) {
                item.line.toppings.append(topping)
                item.removedToppings.removeAll { $0 == topping }
            }
            for topping in removed {
                item.line.toppings.removeAll { $0 == topping }
                if !item.removedToppings.contains(topping) { item.removedToppings.append(topping) }
            }
        }
    }

    private static func interpret(_ lexemes: [Lexeme]) -> ParsedOrder {
        var order = ParsedOrder()
        var pending = Options()
        var afterSeparator = false
        var everyDrink = false
        var previous: OrderToken?
        var splits: [Options] = []
        /// "no", "不要": the toppings that follow come off.
        var removing = false
        /// The drink options attach to when it is not the last: one named again to amend it.
        var focus: Int?
        /// "another": the next drink is a new cup even if that drink was named before.
        var wantsAnother = false
        var target: Int? { focus ?? order.items.indices.last }
        /// Options said for every drink ("都要大杯", "both large"), applied again at the end so
        /// that they reach the lines a later split makes.
        var everyOptions = Options()
        /// Options said in this clause for the drink they went to: "…, half sugar for both" makes them everyone's.
        var clauseOptions = Options()
        /// "the": a word of an earlier drink's name may follow to point at it ("the sago", "the red bean one").
        var pointing = false
        /// A drink was just pointed at: "one" right after it ("the red bean one") counts no cups.
        var pointed = false
        /// A count clashed with the last drink's own ("一杯中杯一杯大杯"): a group of that drink follows.
        var clashedCount = false

        func add(_ options: Options) {
            if everyDrink, !order.items.isEmpty {
                for index in order.items.indices { options.apply(to: &order.items[index]) }
                everyOptions = everyOptions.merging(options)
                return
            }
            guard !afterSeparator, let index = target else {
                mergePending(options)
                return
            }
            let last = order.items[index]
            // An option the last drink already has starts the next drink: 一杯珍珠奶茶一杯芋泥奶茶.
            let clashes = (options.size != nil && last.line.size != nil) || (options.sugar != nil && last.line.sugar != nil)
                || (options.ice != nil && last.line.ice != nil) || (options.quantity != nil && last.countSaid)
            if clashes {
                afterSeparator = true
                if options.quantity != nil { clashedCount = true }
                mergePending(options)
            } else {
                options.apply(to: &order.items[index])
                clauseOptions = clauseOptions.merging(options)
            }
        }

        func mergePending(_ options: Options) {
            // "两杯红豆奶茶，一杯去冰一杯少冰": a second count after a separator splits the last drink.
            if options.quantity != nil, pending.quantity != nil, afterSeparator, !order.items.isEmpty {
                splits.append(pending)
                pending = options
                return
            }
            pending = pending.merging(options)
        }

        /// Replaces the last drink by one line per split group, each taking its own count and options,
        /// and a plain line for cups no group claimed ("两杯芋泥奶茶，一杯加布丁").
        /// A lone group splits only at the end of the sentence: before a drink its count is that drink's.
        func resolveSplits(atEnd: Bool) {
            guard focus == nil, let last = order.items.last, afterSeparator, let pendingCount = pending.quantity else { return }
            let total = (splits + [pending]).reduce(0) { $0 + ($1.quantity ?? 0) }
            guard !splits.isEmpty || (atEnd && pendingCount < (last.quantity ?? 1)) else { return }
            order.items.removeLast()
            for group in splits + [pending] {
                var item = last
                group.apply(to: &item)
                order.items.append(item)
            }
            if let count = last.quantity, count > total {
                var rest = last
                rest.quantity = count - total
                order.items.append(rest)
            }
            splits = []
            pending = Options()
        }

        func startDrink(_ drink: String?) {
            resolveSplits(atEnd: false)
            // A later clause that names a drink already ordered, with no count of its own, is
            // about that drink: "…，芝士乌龙要少冰", "…, the lemon tea with no ice", "一杯杨枝甘露 一杯港式奶茶 杨枝甘露要少冰".
            if let drink, afterSeparator || order.items.last?.drink != drink, !wantsAnother, pending.quantity == nil,
                let earlier = order.items.firstIndex(where: { $0.drink == drink })
            {
                pointed = true
                pending.apply(to: &order.items[earlier])
                pending = Options()
                focus = earlier
                afterSeparator = false
                everyDrink = false
                return
            }
            wantsAnother = false
            focus = nil
            clashedCount = false
            clauseOptions = Options()
            var item = ParsedItem(drink: drink)
            pending.apply(to: &item)
            pending = Options()
            order.items.append(item)
            afterSeparator = false
            everyDrink = false
        }

        for (position, lexeme) in lexemes.enumerated() {
            let token: OrderToken
            switch lexeme {
            case .store(let name):
                order.store = name
                continue
            case .address(let address):
                order.address = address
                continue
            case .token(let value): token = value
            }
            defer { previous = token }
            if pointing {
                pointing = false
                // "the sago", "the red bean one": a topping's word that is part of an earlier drink's name points at it.
                if case .topping(let topping) = token, let earlier = order.items.lastIndex(where: { item in
                    guard let drink = item.drink else { return false }
                    return drink.contains(topping.rawValue) || (Catalog.drink(named: drink)?.chinese.contains(topping.chinese) ?? false)
                }) {
                    resolveSplits(atEnd: false)
                    focus = earlier
                    afterSeparator = false
                    everyDrink = false
                    pointed = true
                    clauseOptions = Options()
                    continue
                }
            }
            if pointed {
                pointed = false
                if token == .quantity(1) { continue }
            }
            switch token {
            case .drink(let name): startDrink(name)
            case .someMilkTea:
                startDrink(nil)
                order.items[order.items.count - 1].namedMilkTea = true
            case .someDrink: startDrink(nil)
            case .size(let size): add(Options(size: size))
            case .sugar(let sugar): add(Options(sugar: sugar))
            case .ice(let ice): add(Options(ice: ice))
            case .topping(let topping): add(removing ? Options(removed: [topping]) : Options(toppings: [topping]))
            case .without: removing = true
            case .quantity(let quantity):
                let next: OrderToken? = position + 1 < lexemes.count ? lexemes[position + 1].token : nil
                // "两杯都少糖" counts the drinks already named; "with a pudding" counts no cups.
                if next == .everyDrink, order.items.count > 1 { continue }
                if previous == .with, case .topping = next { continue }
                add(Options(quantity: quantity))
            case .separator:
                afterSeparator = true
                // "both with pearls and less sugar": options joined to options said for every drink are every drink's too.
                if everyDrink, position + 1 < lexemes.count, let next = lexemes[position + 1].token, next.isOption {} else {
                    everyDrink = false
                }
                removing = false
                clauseOptions = Options()
            case .another:
                afterSeparator = true
                everyDrink = false
                wantsAnother = true
                clauseOptions = Options()
            case .with:
                if !order.items.isEmpty, pending.isEmpty { afterSeparator = false }
            case .everyDrink:
                // Several drinks, or one drink of several cups about to be split ("两杯…，一杯加布丁一杯加椰果，都要大杯").
                let splitting = !splits.isEmpty || (afterSeparator && pending.quantity != nil)
                    || (order.items.last?.quantity ?? 1) > 1
                if order.items.count > 1 || splitting {
                    everyDrink = true
                    // Said just before "both" / "for all": those options are everyone's.
                    let said = afterSeparator && pending.quantity == nil ? pending : clauseOptions
                    if !said.isEmpty, order.items.count > 1 {
                        for index in order.items.indices { said.apply(to: &order.items[index]) }
                        everyOptions = everyOptions.merging(said)
                        if afterSeparator && pending.quantity == nil { pending = Options() } else { clauseOptions = Options() }
                    }
                }
            case .choice(let index): order.choice = index
            case .definite: pointing = !order.items.isEmpty
            case .storeMarker, .addressMarker, .filler, .brand: break
            }
        }
        resolveSplits(atEnd: true)
        // "珍珠奶茶一杯中杯一杯大杯": a second count with options of its own is a second line of that drink.
        if clashedCount, focus == nil, pending.quantity != nil, let last = order.items.last, last.drink != nil {
            var item = ParsedItem(drink: last.drink)
            pending.apply(to: &item)
            order.items.append(item)
            pending = Options()
        }
        if !pending.isEmpty {
            if order.items.isEmpty {
                // Options with no drink named: "少糖去冰" answering a question about the drink.
                startDrink(nil)
            } else {
                let index = target ?? order.items.count - 1
                pending.apply(to: &order.items[index])
            }
        }
        if !everyOptions.isEmpty {
            var shared = everyOptions
            shared.quantity = nil
            for index in order.items.indices { shared.apply(to: &order.items[index]) }
        }
        order.items = resolveHeadCount(order.items.map(resolveMilkTea))
        for index in order.items.indices { order.items[index].namedMilkTea = false }
        return order
    }

    /// "四杯奶茶，两杯珍珠奶茶两杯芋泥奶茶": a count of unnamed drinks that the named ones after it
    /// add up to is a heading, not a line; what it said (都少糖) goes to each of them.
    private static func resolveHeadCount(_ items: [ParsedItem]) -> [ParsedItem] {
        guard let head = items.firstIndex(where: { $0.drink == nil }), let count = items[head].quantity, head + 1 < items.count
        else { return items }
        let named = items[(head + 1)...]
        guard named.allSatisfy({ $0.drink != nil }), named.reduce(0, { $0 + ($1.quantity ?? 1) }) == count else { return items }
        let heading = Options.of(items[head].line)
        var result = Array(items[..<head])
        for var item in named {
            var own = Options.of(item.line)
            own.quantity = item.quantity
            item = ParsedItem(drink: item.drink)
            heading.merging(own).apply(to: &item)
            result.append(item)
        }
        return result
    }

    /// "加珍珠的奶茶" is pearl milk tea, "milk tea with red bean" red bean milk tea.
    private static func resolveMilkTea(_ item: ParsedItem) -> ParsedItem {
        guard item.drink == nil, item.namedMilkTea, item.line.toppings.count == 1 else { return item }
        var resolved = item
        switch item.line.toppings[0] {
        case .pearls: resolved.drink = "pearl milk tea"
        case .redBean: resolved.drink = "red bean milk tea"
        default: return item
        }
        resolved.line.toppings = []
        return resolved
    }

    // MARK: Normalising

    /// The sentence as the lexer reads it, and where each of its scalars came from.
    struct Normalised {
        /// Lower-cased, folded scalars.
        var scalars: [UInt32]
        /// For each scalar, its index in the original sentence.
        var origin: [Int]
        /// English words read as others, and where the reading starts in `scalars`.
        var corrections: [(at: Int, guess: Guess)] = []
    }

    private static let traditional: [UInt32: UInt32] = {
        let pairs: [(Character, Character)] = [
            ("綠", "绿"), ("紅", "红"), ("烏", "乌"), ("龍", "龙"), ("檸", "柠"), ("熱", "热"), ("溫", "温"), ("無", "无"),
            ("兩", "两"), ("個", "个"), ("鮮", "鲜"), ("點", "点"), ("幫", "帮"), ("來", "来"), ("楊", "杨"), ("凍", "冻"),
            ("蓋", "盖"), ("圓", "圆"), ("糖", "糖"), ("葡", "葡"), ("養", "养"), ("樂", "乐"), ("鐵", "铁"), ("這", "这"),
            ("標", "标"), ("準", "准"), ("莓", "莓"), ("桃", "桃"), ("常", "常"), ("黃", "黄"), ("豐", "丰"), ("絲", "丝"),
            ("襪", "袜"), ("國", "国"), ("們", "们"), ("給", "给"), ("買", "买"), ("訂", "订"), ("還", "还"), ("與", "与"),
        ]
        var map: [UInt32: UInt32] = [:]
        for (from, to) in pairs where from != to {
            map[from.unicodeScalars.first!.value] = to.unicodeScalars.first!.value
        }
        return map
    }()

    /// Lower-cases ASCII, folds full-width forms and traditional characters, turns hyphens into
    /// spaces, collapses runs of spaces and corrects misspelled English words.
    static func normalise(_ text: [Unicode.Scalar]) -> Normalised {
        var scalars: [UInt32] = []
        var origin: [Int] = []
        scalars.reserveCapacity(text.count)
        origin.reserveCapacity(text.count)
        for (position, scalar) in text.enumerated() {
            var value = scalar.value
            if value >= 0xFF10 && value <= 0xFF5A, value != 0xFF0C { value -= 0xFEE0 }  // full-width digits and letters
            if value == 0x3000 || value == 0x09 || value == 0x0A || value == 0x2D || value == 0x5F { value = 0x20 }
            if value >= 0x41 && value <= 0x5A { value += 0x20 }
            if let simplified = traditional[value] { value = simplified }
            if value == 0x20, scalars.last == 0x20 || scalars.isEmpty { continue }
            scalars.append(value)
            origin.append(position)
        }
        return correctSpelling(Normalised(scalars: scalars, origin: origin))
    }

    /// English words the lexicon does not know are replaced by the one word they were meant as:
    /// a word of five letters or more at edit distance 1 (2 from eight letters) from exactly one
    /// known word ("jasmin" → "jasmine"); a four-letter word one letter short, long or swapped
    /// ("mlik" → "milk", "hott" → "hot"); and any word whose neighbours spell a known phrase but
    /// for it ("milk tae" → "milk tea", "green tee" → "green tea"). Each replacement is recorded.
    private static func correctSpelling(_ input: Normalised) -> Normalised {
        let text = input.scalars
        let words = wordRanges(text)
        let spelled = words.map { Array(text[$0]) }
        var replacements: [Int: [UInt32]] = [:]
        for (position, word) in spelled.enumerated()
        where word.count >= 3 && !vocabularySet.contains(word) && !commonWords.contains(word) {
            if let replacement = corrected(word) ?? corrected(spelled, at: position) { replacements[position] = replacement }
        }
        guard !replacements.isEmpty else { return input }
        var output = Normalised(scalars: [], origin: [], corrections: input.corrections)
        output.scalars.reserveCapacity(text.count)
        output.origin.reserveCapacity(text.count)
        var copied = 0
        for (position, range) in words.enumerated() {
            guard let replacement = replacements[position] else { continue }
            output.scalars.append(contentsOf: text[copied..<range.lowerBound])
            output.origin.append(contentsOf: input.origin[copied..<range.lowerBound])
            let at = output.scalars.count
            output.scalars.append(contentsOf: replacement)
            // Each scalar of the replacement maps into the misspelled word, its last one to its end.
            for offset in replacement.indices { output.origin.append(input.origin[min(range.lowerBound + offset, range.upperBound - 1)]) }
            let guess = Guess(
                written: String(String.UnicodeScalarView(spelled[position].compactMap(Unicode.Scalar.init))),
                read: String(String.UnicodeScalarView(replacement.compactMap(Unicode.Scalar.init))))
            output.corrections.append((at, guess))
            copied = range.upperBound
        }
        output.scalars.append(contentsOf: text[copied...])
        output.origin.append(contentsOf: input.origin[copied...])
        return output
    }

    @inline(__always)
    private static func isLetter(_ scalar: UInt32) -> Bool { scalar >= 0x61 && scalar <= 0x7A }

    /// Where each run of lower-case ASCII letters (an English word, once normalised) stands.
    private static func wordRanges(_ text: [UInt32]) -> [Range<Int>] {
        var words: [Range<Int>] = []
        var index = 0
        while index < text.count {
            guard isLetter(text[index]) else {
                index += 1
                continue
            }
            var end = index
            while end < text.count, isLetter(text[end]) { end += 1 }
            words.append(index..<end)
            index = end
        }
        return words
    }

    private static let vocabulary: [[UInt32]] = Lexicon.englishWords.sorted().map { $0.unicodeScalars.map(\.value) }
    private static let vocabularySet: Set<[UInt32]> = Set(vocabulary)
    /// Every English phrase of two words or more, as words: the contexts a misspelled word is read in.
    private static let phrases: [[[UInt32]]] = {
        var seen = Set<[[UInt32]]>()
        for (phrase, _) in Lexicon.entries() where phrase.unicodeScalars.allSatisfy({ $0.value == 0x20 || isLetter($0.value) }) {
            let words = phrase.split(separator: " ").map { $0.unicodeScalars.map(\.value) }
            if words.count >= 2 { seen.insert(words) }
        }
        return Array(seen)
    }()
    private static let commonWords: Set<[UInt32]> = Set(
        [
            "please", "could", "would", "should", "order", "get", "want", "wants", "like", "need", "have", "give", "thanks",
            "thank", "there", "their", "these", "those", "which", "where", "when", "about", "some", "cups", "cup", "glass",
            "glasses", "make", "made", "just", "also", "with", "without", "and", "the", "for", "from", "sweet", "sugar",
            "each", "home", "office", "house", "street", "road", "avenue", "building", "floor", "tower", "today", "right",
            "bring", "send", "deliver", "delivery", "me", "my", "mine", "ones", "one", "them", "that", "this", "what",
            "wanna", "gonna", "buy", "grab", "kind", "size", "sizes", "able", "hello", "hey", "hi", "okay", "sure", "yes",
            "fine", "great", "good", "nice", "water", "later", "pick", "place", "first", "second", "third",
            "you", "your", "yours", "our", "ours", "can", "may", "will", "shall", "let", "lets", "much", "many", "more",
            "most", "very", "too", "not", "but", "are", "was", "were", "been", "has", "had", "did", "does", "done", "how",
            "why", "who", "any", "now", "soon", "fast", "quick", "here", "near", "park", "lane", "way", "city", "unit",
            "room", "suite", "door", "gate", "west", "east", "north", "south", "new", "old", "big", "tall", "thx", "pls",
            "plz", "ok", "yeah", "yep", "nope", "sorry", "love", "take", "keep", "same", "again", "same", "other", "else",
            "milk", "tea", "teas", "nah", "hmm", "uh", "um", "lol", "also", "only",
            "them", "they", "him", "her", "his", "she", "its", "for", "off", "out", "over", "under", "into",
        ].map { $0.unicodeScalars.map(\.value) })

    /// The one known word `word` was meant as, by spelling alone.
    private static func corrected(_ word: [UInt32]) -> [UInt32]? {
        guard word.count >= 4 else { return nil }
        let allowed = word.count >= 8 ? 2 : 1
        var best: [UInt32]?
        var bestDistance = allowed + 1
        var tied = false
        for candidate in vocabulary where abs(candidate.count - word.count) <= allowed {
            // Four letters leave too little to guess a changed letter from ("your" is not "four").
            if word.count == 4, candidate.count == word.count, !isAdjacentSwap(word, candidate) { continue }
            let distance = editDistance(word, candidate, limit: allowed)
            if distance < bestDistance {
                best = candidate
                bestDistance = distance
                tied = false
            } else if distance == bestDistance, candidate != best {
                tied = true
            }
        }
        return tied ? nil : best
    }

    /// The one word that the words around `spelled[position]` say it was meant as: the phrases
    /// whose other words stand exactly there agree on one word within an edit of it.
    private static func corrected(_ spelled: [[UInt32]], at position: Int) -> [UInt32]? {
        let word = spelled[position]
        let allowed = word.count >= 8 ? 2 : 1
        var found: [UInt32]?
        for phrase in phrases {
            for (slot, meant) in phrase.enumerated() where abs(meant.count - word.count) <= allowed && meant != found {
                let first = position - slot
                guard first >= 0, first + phrase.count <= spelled.count else { continue }
                guard phrase.indices.allSatisfy({ $0 == slot || phrase[$0] == spelled[first + $0] }) else { continue }
                guard editDistance(word, meant, limit: allowed) <= allowed else { continue }
                if found != nil { return nil }
                found = meant
            }
        }
        return found
    }

    private static func isAdjacentSwap(_ a: [UInt32], _ b: [UInt32]) -> Bool {
        let differing = a.indices.filter { a[$0] != b[$0] }
        return differing.count == 2 && differing[1] == differing[0] + 1 && a[differing[0]] == b[differing[1]]
            && a[differing[1]] == b[differing[0]]
    }

    /// Damerau–Levenshtein distance (adjacent swaps count one), or `limit + 1` once it exceeds `limit`.
    static func editDistance(_ a: [UInt32], _ b: [UInt32], limit: Int) -> Int {
        var previousRow = Array(0...b.count)
        var beforePrevious = previousRow
        var row = Array(repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            row[0] = i
            var rowMinimum = i
            for j in 1...max(b.count, 1) where b.count > 0 {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(previousRow[j] + 1, row[j - 1] + 1, previousRow[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { value = min(value, beforePrevious[j - 2] + 1) }
                row[j] = value
                rowMinimum = min(rowMinimum, value)
            }
            if rowMinimum > limit { return limit + 1 }
            beforePrevious = previousRow
            previousRow = row
        }
        return previousRow[b.count]
    }
}

extension OrderParser {
    /// The parse as one line of JSON: `{"items":[{"drink","size","sugar","ice","toppings","quantity"}],"store"?,"address"?}`,
    /// `null` where nothing was said, quantity 1 unless a number was said.
    public static func json(_ order: ParsedOrder) -> String {
        var out = "{\"items\":["
        for (index, item) in order.items.enumerated() {
            if index > 0 { out += "," }
            out += "{\"drink\":" + (item.drink.map(quoted) ?? "null")
            out += ",\"size\":" + (item.line.size.map { quoted($0.rawValue) } ?? "null")
            out += ",\"sugar\":" + (item.line.sugar.map(String.init) ?? "null")
            out += ",\"ice\":" + (item.line.ice.map { quoted($0.rawValue) } ?? "null")
            out += ",\"toppings\":[" + item.line.toppings.map { quoted($0.rawValue) }.joined(separator: ",") + "]"
            if !item.removedToppings.isEmpty {
                out += ",\"removed_toppings\":[" + item.removedToppings.map { quoted($0.rawValue) }.joined(separator: ",") + "]"
            }
            out += ",\"quantity\":\(item.line.quantity)}"
        }
        out += "]"
        if let store = order.store { out += ",\"store\":" + quoted(store) }
        if let address = order.address { out += ",\"address\":" + quoted(address) }
        return out + "}"
    }

    private static func quoted(_ text: String) -> String { JSONValue.string(text).text }
}

extension OrderToken {
    /// Whether it says how a drink is made: size, sugar, ice or a topping.
    fileprivate var isOption: Bool {
        switch self {
        case .size, .sugar, .ice, .topping, .with: true
        default: false
        }
    }
}

extension OrderParser.Lexeme {
    fileprivate var token: OrderToken? {
        if case .token(let token) = self { return token }
        return nil
    }
}

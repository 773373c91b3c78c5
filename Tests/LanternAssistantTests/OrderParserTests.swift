import Foundation
import LanternCatalog
import Testing

@testable import LanternAssistant

/// One labelled sentence: the text and the items a person reads in it.
struct LabelledSentence: CustomStringConvertible {
    var text: String
    var items: [ParsedItem]

    var description: String { text }

    /// Reads `labelledSentences`.
    static func all() -> [LabelledSentence] {
        labelledSentences.split(separator: "\n").map { line in
            let halves = line.components(separatedBy: " => ")
            let items = halves[1].components(separatedBy: " ;; ").map { item -> ParsedItem in
                let fields = item.components(separatedBy: " | ").map { $0.trimmingCharacters(in: .whitespaces) }
                let head = fields[0].split(separator: " ", maxSplits: 1).map(String.init)
                func optional(_ text: String) -> String? { text == "-" ? nil : text }
                return ParsedItem(
                    drink: optional(head[1]),
                    size: optional(fields[1]).map { CupSize(rawValue: $0)! },
                    sugar: optional(fields[2]).map { Int($0)! },
                    ice: optional(fields[3]).map { IceLevel(rawValue: $0)! },
                    toppings: optional(fields[4])?.components(separatedBy: ",").map { Topping(rawValue: $0)! } ?? [],
                    quantity: Int(head[0])!)
            }
            return LabelledSentence(text: halves[0], items: items)
        }
    }
}

/// Quantity 1 said and quantity left unsaid are the same order.
func sameOrder(_ parsed: [ParsedItem], _ expected: [ParsedItem]) -> Bool {
    guard parsed.count == expected.count else { return false }
    return zip(parsed, expected).allSatisfy { got, want in
        var got = got
        got.quantity = got.quantity ?? 1
        return got == want
    }
}

@Suite("Offline order parser")
struct OrderParserTests {
    @Test("At least 95% of the labelled sentences parse exactly right")
    func labelledAccuracy() {
        let sentences = LabelledSentence.all()
        #expect(sentences.count >= 150)
        var wrong: [String] = []
        for sentence in sentences {
            let parsed = OrderParser.parse(sentence.text)
            if !sameOrder(parsed.items, sentence.items) {
                wrong.append("\(sentence.text)\n    got  \(OrderParser.json(parsed))")
            }
        }
        let accuracy = Double(sentences.count - wrong.count) / Double(sentences.count)
        print("parser: \(sentences.count - wrong.count)/\(sentences.count) exactly right")
        for line in wrong { print("  wrong: \(line)") }
        #expect(accuracy >= 0.95, "\(wrong.count) of \(sentences.count) wrong")
    }

    @Test("The issue's examples parse exactly as written there")
    func issueExamples() {
        let pearl = OrderParser.parse("帮我点两杯大杯珍珠奶茶，少糖去冰")
        #expect(pearl.items == [ParsedItem(drink: "pearl milk tea", size: .large, sugar: 70, ice: IceLevel.none, quantity: 2)])
        let taro = OrderParser.parse("a medium taro milk tea with pudding, half sugar, less ice")
        #expect(taro.items == [ParsedItem(drink: "taro milk tea", size: .medium, sugar: 50, ice: .less, toppings: [.pudding], quantity: 1)])
        let two = OrderParser.parse("杨枝甘露大杯 + 柠檬水两杯去冰")
        #expect(two.items == [
            ParsedItem(drink: "mango pomelo sago", size: .large),
            ParsedItem(drink: "fresh lemon water", ice: IceLevel.none, quantity: 2),
        ])
    }

    @Test("JSON has every field, null where nothing was said, quantity 1 by default")
    func json() {
        let line = OrderParser.json(OrderParser.parse("来杯柠檬水"))
        #expect(line == #"{"items":[{"drink":"fresh lemon water","size":null,"sugar":null,"ice":null,"toppings":[],"quantity":1}]}"#)
        let withAddress = OrderParser.json(OrderParser.parse("一杯美式，送到望京SOHO T1 1203"))
        #expect(withAddress.hasSuffix(#","address":"望京SOHO T1 1203"}"#))
    }

    @Test("Store and address are captured as written")
    func storeAndAddress() {
        let order = OrderParser.parse("from Moon Tea House a pearl milk tea, deliver to 12 Garden Road")
        #expect(order.store == "Moon Tea House")
        #expect(order.address == "12 Garden Road")
        #expect(order.items.map(\.drink) == ["pearl milk tea"])
    }

    @Test("A brand is the store, never a topping, with or without a marker, in either language")
    func brandsAreStores() {
        let english = OrderParser.parse("a jasmine green tea no sugar from Moon Pearl, deliver to 200 Nanjing East Road")
        #expect(english.store == "Moon Pearl")
        #expect(english.items == [ParsedItem(drink: "jasmine green tea", sugar: 0, quantity: 1)])
        #expect(english.address == "200 Nanjing East Road")
        let possessive = OrderParser.parse("Moon Pearl's taro milk tea, half sugar")
        #expect(possessive.store == "Moon Pearl")
        #expect(possessive.items == [ParsedItem(drink: "taro milk tea", sugar: 50)])
        let chinese = OrderParser.parse("月珠的芋泥奶茶少冰")
        #expect(chinese.store == "Moon Pearl")
        #expect(chinese.items == [ParsedItem(drink: "taro milk tea", ice: .less)])
        let marked = OrderParser.parse("在云杯点两杯珍珠奶茶")
        #expect(marked.store == "Cloud Cup")
        #expect(marked.items == [ParsedItem(drink: "pearl milk tea", quantity: 2)])
    }

    @Test("Counts in words and digits, colloquial and large, are read as said",
        arguments: [("来俩珍珠奶茶", 2), ("仨柠檬水", 3), ("一百杯珍珠奶茶", 100), ("二十五杯柠檬水", 25), ("100 cups of lemon water", 100),
                    ("twelve pearl milk teas", 12), ("a hundred pearl milk teas", 100), ("30杯芋泥奶茶", 30), ("一百零五杯柠檬水", 105)])
    func counts(text: String, cups: Int) {
        #expect(OrderParser.parse(text).items.map(\.quantity) == [cups], "\(text)")
    }

    @Test("Size letters where nothing else is meant",
        arguments: [("珍珠奶茶M杯", CupSize.medium), ("珍珠奶茶 L 杯", .large), ("taro milk tea size L", .large),
                    ("an M size lemon water", .medium), ("芋泥奶茶size要M", .medium)])
    func sizeLetters(text: String, size: CupSize) {
        #expect(OrderParser.parse(text).items.map(\.size) == [size], "\(text)")
    }

    @Test("A later clause naming an earlier drink amends it; another cup of it is a new line")
    func references() {
        let chinese = OrderParser.parse("一杯芝士乌龙一杯柠檬红茶，芝士乌龙要少冰")
        #expect(chinese.items == [
            ParsedItem(drink: "cheese foam oolong", ice: .less, quantity: 1), ParsedItem(drink: "lemon black tea", quantity: 1),
        ])
        let english = OrderParser.parse("a large pearl milk tea and a lemon tea, the pearl milk tea with less sugar")
        #expect(english.items == [
            ParsedItem(drink: "pearl milk tea", size: .large, sugar: 70, quantity: 1), ParsedItem(drink: "lemon black tea", quantity: 1),
        ])
        let another = OrderParser.parse("a pearl milk tea, and another pearl milk tea with no ice")
        #expect(another.items.count == 2)
        #expect(another.items.last?.ice == IceLevel.none)
        #expect(another.items.first?.ice == nil)
        let again = OrderParser.parse("一杯珍珠奶茶，再来一杯珍珠奶茶去冰")
        #expect(again.items.count == 2)
    }

    @Test("An option for every cup reaches every line, also the lines a split makes and options said before 'both'")
    func distribution() {
        let large = [
            ParsedItem(drink: "taro milk tea", size: .large, toppings: [.pudding], quantity: 1),
            ParsedItem(drink: "taro milk tea", size: .large, toppings: [.coconutJelly], quantity: 1),
        ]
        #expect(OrderParser.parse("两杯芋泥奶茶，一杯加布丁一杯加椰果，都要大杯").items == large)
        #expect(OrderParser.parse("two taro milk teas, one with pudding and one with coconut jelly, both large").items == large)
        #expect(OrderParser.parse("one taro milk tea no ice and one pearl milk tea, half sugar for both").items == [
            ParsedItem(drink: "taro milk tea", sugar: 50, ice: IceLevel.none, quantity: 1),
            ParsedItem(drink: "pearl milk tea", sugar: 50, quantity: 1),
        ])
        #expect(OrderParser.parse("草莓果茶两杯，都少糖").items == [ParsedItem(drink: "strawberry fruit tea", sugar: 70, quantity: 2)])
    }

    @Test("A topping said alone is an edit: added or taken off, never a new drink")
    func toppingEdits() {
        #expect(OrderParser.parse("add pearls").items == [ParsedItem(drink: nil, toppings: [.pearls])])
        #expect(OrderParser.parse("加珍珠").items == [ParsedItem(drink: nil, toppings: [.pearls])])
        #expect(OrderParser.parse("no pudding").items == [ParsedItem(drink: nil, removedToppings: [.pudding])])
        #expect(OrderParser.parse("不加珍珠了").items == [ParsedItem(drink: nil, removedToppings: [.pearls])])
        #expect(OrderParser.parse("去掉椰果").items == [ParsedItem(drink: nil, removedToppings: [.coconutJelly])])
        // A milk tea named with one topping is still the drink that topping names.
        #expect(OrderParser.parse("加珍珠的奶茶").items.map(\.drink) == ["pearl milk tea"])
        #expect(OrderParser.parse("a pearl milk tea with no ice").items == [ParsedItem(drink: "pearl milk tea", ice: IceLevel.none, quantity: 1)])
    }

    @Test("Choices: 第二个 and the second one")
    func choices() {
        #expect(OrderParser.parse("第二个，少糖").choice == 2)
        #expect(OrderParser.parse("the third one please").choice == 3)
        #expect(OrderParser.parse("第二个，少糖").items == [ParsedItem(drink: nil, sugar: 70)])
    }

    @Test("Edit distance counts swaps as one and gives up past the limit")
    func editDistance() {
        let a = Array("oolong".unicodeScalars.map(\.value))
        #expect(OrderParser.editDistance(Array("oolnog".unicodeScalars.map(\.value)), a, limit: 2) == 1)
        #expect(OrderParser.editDistance(Array("xxxxxx".unicodeScalars.map(\.value)), a, limit: 2) == 3)
    }
}

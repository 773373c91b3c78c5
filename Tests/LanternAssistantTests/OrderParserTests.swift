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

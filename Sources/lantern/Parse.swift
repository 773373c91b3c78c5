import ArgumentParser
import LanternAssistant

/// `lantern parse`: the offline parser on one sentence, or on one sentence per line of standard input.
struct Parse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parse an order sentence (Chinese, English or mixed) and print it as JSON.",
        discussion: "With no TEXT, reads one sentence per line from standard input and prints one JSON object per line.")

    @Argument(help: "The sentence, e.g. \"帮我点两杯大杯珍珠奶茶，少糖去冰\".") var text: [String] = []

    func run() async throws {
        if !text.isEmpty {
            print(OrderParser.json(OrderParser.parse(text.joined(separator: " "))))
            return
        }
        while let line = readLine(strippingNewline: true) {
            print(OrderParser.json(OrderParser.parse(line)))
        }
    }
}

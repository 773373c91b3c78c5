import Foundation
import LanternCatalog
import LanternOrders

/// One conversation's state between turns; saved after every turn so it survives a restart.
public struct AssistantSession: Sendable, Codable, Equatable {
    /// What the assistant asked last, so the next turn can be read as its answer.
    public enum Awaiting: String, Sendable, Codable {
        /// Nothing in particular.
        case nothing
        /// Which of the offered drinks.
        case choice
        /// Where to deliver.
        case address
        /// Whether to place the quoted order.
        case confirmation
        /// Whether to deliver to a typed address far from the device.
        case addressCheck
    }

    /// One drink of the order being put together.
    public struct Line: Sendable, Codable, Equatable {
        var drink: String
        var size: String?
        var sugar: Int?
        var ice: String?
        var toppings: [String]
        var quantity: Int
    }

    /// Session id.
    public var id: String
    /// The user the session belongs to.
    public var user: String
    /// Last turn, milliseconds since 1970.
    public var updatedAtMs: Int64
    /// The order being put together.
    public var lines: [Line] = []
    /// Store the user named, if any.
    public var merchantID: String?
    /// Brand the user named, if any.
    public var brand: String?
    /// Delivery address text.
    public var address: String?
    /// Where the typed address is, latitude, when the gazetteer knows it: where the order goes.
    public var addressLat: Double?
    /// Where the typed address is, longitude.
    public var addressLng: Double?
    /// The customer said yes to a typed address far from their device.
    public var addressConfirmed: Bool?
    /// What the parser guessed or could not read in the sentence the lines came from, in the
    /// customer's language: shown with the quote so that nothing is guessed silently.
    public var notes: [String]?
    /// The user's location, latitude.
    public var lat: Double?
    /// The user's location, longitude.
    public var lng: Double?
    /// Drinks offered for a choice, in order.
    public var offered: [String] = []
    /// What the assistant asked last.
    public var awaiting: Awaiting = .nothing
    /// Arguments of the quote awaiting confirmation, as JSON text.
    public var quotedArguments: String?
    /// Quotes made in this session, numbering idempotency keys so a repeated "yes" places once.
    public var quotes: Int = 0
    /// The last order placed in this session.
    public var lastOrderID: String?
    /// Recent messages, for the LLM engine: role (`user` or `assistant`) and text.
    public var history: [Message] = []

    /// One remembered message.
    public struct Message: Sendable, Codable, Equatable {
        /// `user` or `assistant`.
        public var role: String
        /// What was said.
        public var content: String
    }

    /// Remembers a turn, keeping the last eight messages.
    public mutating func remember(user: String, assistant: String) {
        history.append(Message(role: "user", content: user))
        history.append(Message(role: "assistant", content: assistant))
        if history.count > 8 { history.removeFirst(history.count - 8) }
    }

    /// A new session.
    public init(id: String, user: String, nowMs: Int64) {
        self.id = id
        self.user = user
        self.updatedAtMs = nowMs
    }

    /// Sessions idle this long start over.
    public static let idleLimitMs: Int64 = 30 * 60 * 1_000
}

/// What one turn answers.
public struct AssistantReply: Sendable, Equatable {
    /// The assistant's words.
    public var reply: String
    /// Suggestion chips.
    public var suggestions: [String]
    /// The quote awaiting confirmation, if any.
    public var pendingOrder: JSONValue?
    /// The order placed or looked at this turn, if any.
    public var order: JSONValue?
    /// Which engine answered: `offline`, `llm`, or `offline-fallback`.
    public var engine: String

    /// Creates a reply.
    public init(reply: String, suggestions: [String], pendingOrder: JSONValue?, order: JSONValue?, engine: String) {
        self.reply = reply
        self.suggestions = suggestions
        self.pendingOrder = pendingOrder
        self.order = order
        self.engine = engine
    }
}

/// The offline dialogue manager: the parser plus a small state machine, driving the same tools
/// as every other engine. It never needs a model and never pretends it cannot order.
public enum OfflineAssistant {
    /// Drinks offered when someone asks for "a milk tea", most popular first.
    public static let popular = ["pearl milk tea", "taro milk tea", "jasmine milk green tea", "coconut latte", "fresh lemon water"]

    /// Answers one turn, updating `session`.
    public static func respond(
        to text: String, location: (lat: Double, lng: Double)?, session: inout AssistantSession, tools: any ToolRunner,
        nowMs: Int64
    ) async -> AssistantReply {
        let zh = isChinese(text)
        func say(_ chinese: String, _ english: String) -> String { zh ? chinese : english }
        session.updatedAtMs = nowMs
        if let location {
            session.lat = location.lat
            session.lng = location.lng
        }
        let words = text.lowercased().trimmingCharacters(in: .whitespacesAndNewlines.union(.punctuationCharacters))
        let parsed = OrderParser.parse(text)

        if session.awaiting == .addressCheck, Intent.confirms(words) {
            session.addressConfirmed = true
            session.awaiting = .nothing
        }
        // Confirmation of a quote places the order; the key makes a repeated "yes" place it once.
        if session.awaiting == .confirmation, Intent.confirms(words), let arguments = session.quotedArguments,
            case .object(var members)? = try? JSONValue.parse(arguments)
        {
            members.append(("idempotency_key", .string("assistant-\(session.id)-\(session.quotes)")))
            switch await tools.call("place_order", .object(members)) {
            case .success(let result):
                let order = result["order"] ?? result
                session.lastOrderID = order["id"]?.string
                session.lines = []
                session.notes = nil
                session.quotedArguments = nil
                session.awaiting = .nothing
                let total = Money.text(order["total_fen"]?.int ?? 0)
                return AssistantReply(
                    reply: say("下单成功！实付 \(total) 元，\(Clock.text(order["promised_at"]?.string, zh: true))。",
                        "Ordered! You pay \(total) yuan; \(Clock.text(order["promised_at"]?.string, zh: false))."),
                    suggestions: say("订单到哪了|取消订单", "where is my order|cancel my order").split(separator: "|").map(String.init),
                    pendingOrder: nil, order: order, engine: "offline")
            case .failure(let code, let message):
                session.awaiting = .nothing
                return AssistantReply(
                    reply: say("没能下单。", "The order was not placed. ") + Refusal.text(code: code, message: message, zh: zh),
                    suggestions: [], pendingOrder: nil, order: nil, engine: "offline")
            }
        }
        if Intent.cancelsOrder(words), let id = session.lastOrderID {
            let result = await tools.call("cancel_order", ["order_id": .string(id)])
            return orderAnswer(result, say("订单已取消，免单卡已退回。", "Your order is cancelled and your card is back."), zh: zh)
        }
        if Intent.asksStatus(words), let id = session.lastOrderID {
            let result = await tools.call("order_status", ["order_id": .string(id)])
            let state = result.json["order"]?["state"]?.string ?? "unknown"
            return orderAnswer(result, say("订单状态：\(State.chinese(state))。", "Your order is \(state.replacingOccurrences(of: "_", with: " "))."), zh: zh)
        }
        if Intent.startsOver(words) {
            session.lines = []
            session.notes = nil
            session.offered = []
            session.brand = nil
            session.merchantID = nil
            session.setAddress(nil)
            session.quotedArguments = nil
            session.awaiting = .nothing
            return AssistantReply(
                reply: say("好的，已清空。想喝点什么？", "OK, cleared. What would you like?"),
                suggestions: examples(zh), pendingOrder: nil, order: nil, engine: "offline")
        }
        if Intent.thanks(words) {
            return AssistantReply(
                reply: say("不客气！还想喝点什么，直接告诉我。", "You're welcome! Tell me if you'd like anything else."),
                suggestions: examples(zh), pendingOrder: nil, order: nil, engine: "offline")
        }
        if Intent.asksHelp(words) {
            let next: String
            switch session.awaiting {
            case .confirmation:
                next = say("说“确认”就下单；也可以改，比如“少糖”“换大杯”“加珍珠”，或者说“算了”重新开始。",
                    "Say \"yes\" to place it; or change it (\"less sugar\", \"make it large\", \"add pearls\"), or \"start over\".")
            case .address:
                next = say("告诉我送到哪里，比如“送到人民广场1号”，或者“送到当前位置”。",
                    "Tell me where to deliver, e.g. \"deliver to 5 Park Road\", or \"my current location\".")
            case .choice:
                next = say("选一个，比如“第二个，少糖”。", "Pick one, e.g. \"the second one, less sugar\".")
            default:
                next = say("一句话告诉我想喝什么，比如“两杯大杯珍珠奶茶，少糖去冰，送到人民广场1号”；也可以问“我的免单卡”“订单到哪了”“菜单”。",
                    "Tell me in one sentence what you'd like, e.g. \"a large taro milk tea, less ice, deliver to 5 Park Road\"; or ask \"my cards\", \"where is my order\", \"menu\".")
            }
            return AssistantReply(reply: next, suggestions: examples(zh), pendingOrder: nil, order: nil, engine: "offline")
        }
        if Intent.asksMenu(words) {
            guard let lat = session.lat, let lng = session.lng else {
                return AssistantReply(
                    reply: say("请先开启定位，我才能找到附近的店和它的菜单。", "Please share your location so I can find a store near you and its menu."),
                    suggestions: [], pendingOrder: nil, order: nil, engine: "offline")
            }
            return await menu(lat: lat, lng: lng, zh: zh, tools: tools)
        }
        if Intent.asksCards(words) {
            let result = await tools.call("my_cards", [:])
            let cards = result.json["cards"]?.array ?? []
            let active = cards.filter { $0["state"]?.string == "active" }.count
            return AssistantReply(
                reply: say("你有 \(active) 张可用的免单卡。", "You have \(active) usable free-order card\(active == 1 ? "" : "s")."),
                suggestions: examples(zh), pendingOrder: nil, order: nil, engine: "offline")
        }

        // Fold what this turn says into the order being put together.
        let options = parsed.items.first { $0.drink == nil }
        if let choice = parsed.choice, session.awaiting == .choice, choice >= 1, choice <= session.offered.count {
            var line = AssistantSession.Line(drink: session.offered[choice - 1], toppings: [], quantity: 1)
            if let options { apply(options, to: &line) }
            session.lines = [line]
            session.offered = []
            session.notes = nil
        } else if let choice = parsed.choice, let options, options.hasOptions, choice >= 1, choice <= session.lines.count {
            // "add pudding to the first one", "第二杯少冰": an edit of that line only.
            var edit = options
            edit.quantity = nil
            apply(edit, to: &session.lines[choice - 1])
        } else if isAmendment(parsed, of: session.lines) {
            // "the taro milk tea with less ice", "芋泥奶茶加布丁": an edit of the line with that drink.
            for item in parsed.items {
                guard let index = session.lines.firstIndex(where: { $0.drink == item.drink }) else { continue }
                apply(item, to: &session.lines[index])
            }
        } else if parsed.items.contains(where: { $0.drink != nil }) {
            session.lines = parsed.items.compactMap { item in
                guard let drink = item.drink else { return nil }
                var line = AssistantSession.Line(drink: drink, toppings: [], quantity: 1)
                apply(item, to: &line)
                return line
            }
            session.offered = []
            session.notes = notes(parsed, zh: zh)
        } else if let options, !session.lines.isEmpty, options.hasOptions {
            for index in session.lines.indices { apply(options, to: &session.lines[index]) }
        }
        var typed = parsed.address
        if typed == nil, session.awaiting == .address, parsed.items.isEmpty, !words.isEmpty {
            typed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // A count the stores will not take is said so, never quietly read as one cup.
        if let line = session.lines.first(where: { $0.quantity > Catalog.maximumCupsPerLine }) {
            let drink = Catalog.drink(named: line.drink)
            session.lines = session.lines.map { var capped = $0; capped.quantity = min(capped.quantity, Catalog.maximumCupsPerLine); return capped }
            session.awaiting = .nothing
            return AssistantReply(
                reply: say("一单每种饮品最多 \(Catalog.maximumCupsPerLine) 杯，\(line.quantity) 杯\(drink?.chinese ?? line.drink)点不了。要改成 \(Catalog.maximumCupsPerLine) 杯吗？需要更多请分几单。",
                    "One order takes at most \(Catalog.maximumCupsPerLine) cups of a drink, so \(line.quantity) × \(line.drink) is too many. Make it \(Catalog.maximumCupsPerLine)? For more, place several orders."),
                suggestions: [say("好的，\(Catalog.maximumCupsPerLine) 杯", "yes, \(Catalog.maximumCupsPerLine) cups"), say("算了", "start over")],
                pendingOrder: nil, order: nil, engine: "offline")
        }
        if Intent.currentLocation(words), let lat = session.lat, let lng = session.lng {
            let near = Gazetteer.nearest(to: GeoPoint(lat: lat, lng: lng))
            session.setAddress(near.map { say("当前位置（\($0.chinese)附近）", "current location (near \($0.english))") } ?? say("当前位置", "current location"))
        } else if let typed {
            session.setAddress(String(typed.prefix(200)))
            switch Gazetteer.locate(typed) {
            case .located(let place):
                session.addressLat = place.point.lat
                session.addressLng = place.point.lng
            case .outside(let place, let metres):
                session.setAddress(nil)
                session.awaiting = session.lines.isEmpty ? .nothing : .address
                return AssistantReply(
                    reply: say("\(place.chinese)不在配送范围内（离市中心约 \(Int(metres / 1_000)) 公里，只送 \(Int(Gazetteer.deliveryRadiusMetres / 1_000)) 公里以内）。换一个市内的地址吧，比如“送到人民广场”。",
                        "\(place.english) is outside the delivery area (about \(Int(metres / 1_000)) km from the centre; we deliver within \(Int(Gazetteer.deliveryRadiusMetres / 1_000)) km). Try an address in the city, e.g. \"deliver to People's Square\"."),
                    suggestions: [say("送到当前位置", "deliver to my current location")], pendingOrder: nil, order: nil, engine: "offline")
            case .unknown:
                guard session.lat != nil else {
                    session.setAddress(nil)
                    session.awaiting = session.lines.isEmpty ? .nothing : .address
                    return AssistantReply(
                        reply: say("没找到“\(typed.prefix(40))”这个地址。请说一个路名或地标，比如“送到南京东路200号”“送到静安寺”，或者开启定位。",
                            "I could not find \"\(typed.prefix(40))\". Name a road or a landmark, e.g. \"deliver to 200 Nanjing East Road\" or \"Jing'an Temple\", or share your location."),
                        suggestions: [say("送到人民广场", "deliver to People's Square")], pendingOrder: nil, order: nil, engine: "offline")
                }
            }
        }
        if let store = parsed.store {
            if let brand = DemoCity.brandNames.first(where: { store.lowercased().contains($0.english.lowercased()) || store.contains($0.chinese) }) {
                session.brand = brand.english
            }
            // "Lantern Tea Market #135": the demo city's store names end in their number.
            session.merchantID = store.split(separator: "#").dropFirst().first.flatMap { Int($0) }.map { DemoCity.id($0 - 1) }
        }

        // Stores are looked for around the typed address when it is known, else around the device.
        guard let lat = session.addressLat ?? session.lat, let lng = session.addressLng ?? session.lng else {
            session.awaiting = session.lines.isEmpty ? .nothing : .address
            return AssistantReply(
                reply: say("请开启定位，或者告诉我送到哪里（比如“送到人民广场”），我才能找到附近的店。",
                    "Please share your location, or tell me where to deliver (e.g. \"deliver to People's Square\"), so I can find stores near you."),
                suggestions: [say("送到人民广场", "deliver to People's Square")], pendingOrder: nil, order: nil, engine: "offline")
        }
        if session.lines.isEmpty {
            guard parsed.isVague || session.awaiting == .choice else {
                session.awaiting = .nothing
                let heard = String(text.trimmingCharacters(in: .whitespacesAndNewlines).prefix(40))
                return AssistantReply(
                    reply: say("没听懂“\(heard)”。想喝点什么？比如“两杯大杯珍珠奶茶，少糖去冰”。说“帮助”看看我能做什么。",
                        "I didn't understand \"\(heard)\". What would you like? For example \"a large taro milk tea, less ice\". Say \"help\" to see what I can do."),
                    suggestions: examples(zh), pendingOrder: nil, order: nil, engine: "offline")
            }
            return await offerPopular(session: &session, lat: lat, lng: lng, zh: zh, tools: tools)
        }
        guard let address = session.address else {
            // A refusal that does not depend on the address (no store sells it, the brand's
            // stores are paused) is told now, not after the customer has said where.
            if case .failure(let code, let message) = await tools.call(
                "quote_order", .object(quoteArguments(session, lat: lat, lng: lng, address: say("当前位置", "current location")))),
                !code.hasPrefix("address"), code != "out_of_delivery_range"
            {
                session.awaiting = .nothing
                return AssistantReply(
                    reply: Refusal.text(code: code, message: message, zh: zh), suggestions: examples(zh), pendingOrder: nil,
                    order: nil, engine: "offline")
            }
            session.awaiting = .address
            return AssistantReply(
                reply: say("送到哪里？", "Where should I deliver it?"),
                suggestions: [say("送到当前位置", "deliver to my current location")], pendingOrder: nil, order: nil,
                engine: "offline")
        }
        // A typed address far from the device may be a slip: ask once before quoting from there.
        if let typedLat = session.addressLat, let typedLng = session.addressLng, let deviceLat = session.lat, let deviceLng = session.lng,
            session.addressConfirmed != true
        {
            let metres = GeoPoint(lat: typedLat, lng: typedLng).distance(to: GeoPoint(lat: deviceLat, lng: deviceLng))
            if metres > addressCheckMetres {
                session.awaiting = .addressCheck
                let km = String(format: "%.1f", metres / 1_000)
                return AssistantReply(
                    reply: say("“\(address)”离你现在的位置约 \(km) 公里。确定送到那里吗？不对的话直接告诉我新地址。",
                        "\"\(address)\" is about \(km) km from where you are now. Deliver there? If not, just tell me the right address."),
                    suggestions: [say("确定", "yes"), say("送到当前位置", "deliver to my current location")], pendingOrder: nil, order: nil,
                    engine: "offline")
            }
        }
        let understood: String
        if session.addressLat != nil, let place = session.address.map(Gazetteer.locate), case .located(let found) = place {
            let named = [found.chinese, found.english.lowercased()].contains(address.lowercased())
            understood = named ? address : say("\(address)（\(found.chinese)）", "\(address) (\(found.english))")
        } else if Intent.currentLocation(address.lowercased()) {
            understood = address
        } else {
            understood = say("\(address)（没找到这个地址，按你现在的位置送）", "\(address) (not found on the map; delivered to where you are now)")
        }
        return await quote(session: &session, lat: lat, lng: lng, address: address, understood: understood, zh: zh, tools: tools)
    }

    /// How far a typed address may be from the device before the assistant asks whether it is meant.
    static let addressCheckMetres: Double = 3_000

    private static func apply(_ item: ParsedItem, to line: inout AssistantSession.Line) {
        if let size = item.size { line.size = size.rawValue }
        if let sugar = item.sugar { line.sugar = sugar }
        if let ice = item.ice { line.ice = ice.rawValue }
        for topping in item.toppings where !line.toppings.contains(topping.rawValue) { line.toppings.append(topping.rawValue) }
        line.toppings.removeAll { name in item.removedToppings.contains { $0.rawValue == name } }
        if let quantity = item.quantity { line.quantity = quantity }
    }

    /// Whether a turn only changes drinks already in the order: each one named is there, none is
    /// counted, and something about it is said. Anything else is a new order.
    private static func isAmendment(_ parsed: ParsedOrder, of lines: [AssistantSession.Line]) -> Bool {
        !lines.isEmpty && !parsed.items.isEmpty
            && parsed.items.allSatisfy { item in
                item.quantity == nil && item.hasOptions && lines.contains { $0.drink == item.drink }
            }
    }

    /// "Read “tae” as “tea”", "Not understood: “cola” (not in this order)".
    private static func notes(_ parsed: ParsedOrder, zh: Bool) -> [String]? {
        var notes = parsed.guesses.map { guess in
            zh ? "“\(guess.written)”按“\(guess.read)”理解。" : "Read \"\(guess.written)\" as \"\(guess.read)\"."
        }
        if !parsed.unread.isEmpty {
            let words = parsed.unread.map { zh ? "“\($0)”" : "\"\($0)\"" }.joined(separator: zh ? "、" : ", ")
            notes.append(zh ? "没看懂\(words)，没有算进这一单；想要的话换个说法告诉我。"
                : "Not understood: \(words), not in this order; say it another way if you want it.")
        }
        if parsed.items.contains(where: { $0.drink == nil }) {
            notes.append(zh ? "有一杯没说是哪种，没有算进来。" : "One drink was not named, so it is not in this order.")
        }
        return notes.isEmpty ? nil : notes
    }

    private static func examples(_ zh: Bool) -> [String] {
        zh ? ["帮我点杯奶茶", "两杯大杯珍珠奶茶，少糖去冰", "我的免单卡"] : ["get me a milk tea", "a large taro milk tea, less ice", "my cards"]
    }

    private static func orderAnswer(_ result: ToolResult, _ success: String, zh: Bool) -> AssistantReply {
        switch result {
        case .success(let value):
            return AssistantReply(reply: success, suggestions: [], pendingOrder: nil, order: value["order"], engine: "offline")
        case .failure(let code, let message):
            return AssistantReply(
                reply: Refusal.text(code: code, message: message, zh: zh), suggestions: [],
                pendingOrder: nil, order: nil, engine: "offline")
        }
    }

    /// The user's best card: the first active one.
    private static func activeCard(_ tools: any ToolRunner) async -> JSONValue? {
        guard case .success(let result) = await tools.call("my_cards", [:]) else { return nil }
        return result["cards"]?.array?.first { $0["state"]?.string == "active" }
    }

    private static func offerPopular(
        session: inout AssistantSession, lat: Double, lng: Double, zh: Bool, tools: any ToolRunner
    ) async -> AssistantReply {
        guard case .success(let found) = await tools.call("find_stores", ["lat": .double(lat), "lng": .double(lng), "limit": 1]),
            let store = found["stores"]?.array?.first, let storeID = store["id"]?.string,
            case .success(let menu) = await tools.call("get_menu", ["merchant_id": .string(storeID)])
        else {
            session.awaiting = .nothing
            return AssistantReply(
                reply: zh ? "附近暂时没有营业的店。" : "No store near you is open right now.", suggestions: [], pendingOrder: nil,
                order: nil, engine: "offline")
        }
        let items = menu["items"]?.array ?? []
        let cardValue = await activeCard(tools)?["value_fen"]?.int ?? 0
        let offered = popular.compactMap { name in items.first { $0["drink"]?.string == name && $0["available"] != .bool(false) } }.prefix(3)
        session.offered = offered.compactMap { $0["drink"]?.string }
        session.awaiting = .choice
        var lines: [String] = []
        for (index, item) in offered.enumerated() {
            let price = item["medium_fen"]?.int ?? 0
            let after = max(0, price - cardValue)
            let name = zh ? item["name_zh"]?.string ?? "" : item["drink"]?.string ?? ""
            lines.append(
                zh ? "\(index + 1). \(name) \(Money.text(price)) 元，用卡后 \(Money.text(after)) 元"
                    : "\(index + 1). \(name), \(Money.text(price)) yuan, \(Money.text(after)) with your card")
        }
        let head = zh ? "附近的\(store["name"]?.string ?? "店")人气饮品：" : "Popular at \(store["name"]?.string ?? "a store") near you:"
        return AssistantReply(
            reply: ([head] + lines).joined(separator: "\n"),
            suggestions: zh ? ["第一个", "第二个，少糖", "第三个"] : ["the first one", "the second one, less sugar", "the third one"],
            pendingOrder: nil, order: nil, engine: "offline")
    }

    /// The nearest open store's menu: drinks with their medium price.
    private static func menu(lat: Double, lng: Double, zh: Bool, tools: any ToolRunner) async -> AssistantReply {
        guard case .success(let found) = await tools.call("find_stores", ["lat": .double(lat), "lng": .double(lng), "limit": 1]),
            let store = found["stores"]?.array?.first, let id = store["id"]?.string,
            case .success(let menu) = await tools.call("get_menu", ["merchant_id": .string(id)])
        else {
            return AssistantReply(
                reply: zh ? "附近没有开着的店，晚点再试试。" : "No store near you is open right now; try again later.",
                suggestions: [], pendingOrder: nil, order: nil, engine: "offline")
        }
        let items = (menu["items"]?.array ?? []).filter { $0["available"] != .bool(false) }
        let lines = items.prefix(8).map { item -> String in
            let price = Money.text(item["medium_fen"]?.int ?? 0)
            return zh ? "· \(item["name_zh"]?.string ?? "") \(price) 元起" : "· \(item["drink"]?.string ?? ""), from \(price) yuan"
        }
        let name = store["name"]?.string ?? ""
        let head = zh ? "\(name) 的菜单（共 \(items.count) 种）：" : "\(name)'s menu (\(items.count) drinks):"
        let tail = zh ? "想喝哪个？直接说，比如“大杯\(items.first?["name_zh"]?.string ?? "奶茶")，少冰”。"
            : "Which would you like? Just say it, e.g. \"a large \(items.first?["drink"]?.string ?? "milk tea"), less ice\"."
        return AssistantReply(
            reply: ([head] + lines + [tail]).joined(separator: "\n"), suggestions: examples(zh), pendingOrder: nil, order: nil,
            engine: "offline")
    }

    private static func quote(
        session: inout AssistantSession, lat: Double, lng: Double, address: String, understood: String, zh: Bool,
        tools: any ToolRunner
    ) async -> AssistantReply {
        var members = quoteArguments(session, lat: lat, lng: lng, address: address)
        if let card = await activeCard(tools)?["id"]?.string { members.insert(("card_id", .string(card)), at: members.count - 1) }
        switch await tools.call("quote_order", .object(members)) {
        case .success(let result):
            let quote = result["quote"] ?? result
            session.quotes += 1
            session.quotedArguments = JSONValue.object(members).text
            session.awaiting = .confirmation
            return AssistantReply(
                reply: QuoteText.render(quote, asked: session.lines, address: understood, notes: session.notes ?? [], zh: zh),
                suggestions: zh ? ["确认下单", "少糖", "换大杯", "算了"] : ["yes, place it", "less sugar", "make it large", "never mind"],
                pendingOrder: quote, order: nil, engine: "offline")
        case .failure(let code, let message):
            session.awaiting = .nothing
            return AssistantReply(
                reply: Refusal.text(code: code, message: message, zh: zh),
                suggestions: examples(zh), pendingOrder: nil, order: nil, engine: "offline")
        }
    }

    /// `quote_order`'s arguments for the session's lines, store or brand, and an address (no card).
    private static func quoteArguments(_ session: AssistantSession, lat: Double, lng: Double, address: String) -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = []
        if let merchant = session.merchantID { members.append(("merchant_id", .string(merchant))) }
        if let brand = session.brand { members.append(("brand", .string(brand))) }
        members.append(
            (
                "items",
                .array(
                    session.lines.map { line in
                        var item: [(String, JSONValue)] = [("drink", .string(line.drink))]
                        if let size = line.size { item.append(("size", .string(size))) }
                        if let sugar = line.sugar { item.append(("sugar", .int(Int64(sugar)))) }
                        if let ice = line.ice { item.append(("ice", .string(ice))) }
                        item.append(("toppings", .array(line.toppings.map { .string($0) })))
                        item.append(("quantity", .int(Int64(line.quantity))))
                        return .object(item)
                    })
            ))
        members.append(("address", ["lat": .double(lat), "lng": .double(lng), "text": .string(address)]))
        return members
    }
}

extension AssistantSession {
    /// A new delivery address: where it is, and the customer's yes to it, are found again.
    mutating func setAddress(_ text: String?) {
        address = text
        addressLat = nil
        addressLng = nil
        addressConfirmed = nil
    }
}

/// Whether `text` has Chinese characters in it: replies follow the language of the message.
public func isChinese(_ text: String) -> Bool {
    text.unicodeScalars.contains { $0.value >= 0x4E00 && $0.value <= 0x9FFF }
}

/// Words that carry a turn's intent beyond the order itself.
enum Intent {
    static func confirms(_ words: String) -> Bool {
        ["确认", "确定", "下单", "好的", "好", "是", "是的", "对", "可以", "yes", "ok", "okay", "sure", "confirm", "yep", "go ahead"]
            .contains(words) || words.contains("确认") || words.hasPrefix("yes") || words.contains("place it")
    }

    static func cancelsOrder(_ words: String) -> Bool {
        words.contains("取消订单") || words.contains("cancel my order") || words.contains("cancel the order")
    }

    static func asksStatus(_ words: String) -> Bool {
        words.contains("到哪") || words.contains("订单状态") || words.contains("where is my order") || words.contains("order status")
    }

    static func startsOver(_ words: String) -> Bool {
        ["算了", "不要了", "取消", "重来", "never mind", "cancel", "start over"].contains(words)
    }

    static func asksCards(_ words: String) -> Bool {
        words.contains("免单卡") || words.contains("我的卡") || words == "my cards" || words.contains("wallet")
    }

    static func thanks(_ words: String) -> Bool {
        ["谢谢", "谢啦", "多谢", "thanks", "thank you", "thx", "ty"].contains(words) || words.hasPrefix("谢谢") || words.hasPrefix("thank")
    }

    static func asksHelp(_ words: String) -> Bool {
        ["help", "帮助", "怎么用", "怎么点", "what can you do", "你能做什么", "你会什么"].contains(words)
    }

    static func asksMenu(_ words: String) -> Bool {
        ["菜单", "menu", "有什么喝的", "有什么", "看看菜单", "the menu", "what do you have", "show me the menu"].contains(words)
    }

    static func currentLocation(_ words: String) -> Bool {
        words.contains("当前位置") || words.contains("current location") || words.contains("my location") || words == "here"
    }
}

/// A quote as the customer reads it before confirming: the store, every line with each option
/// (those the customer did not choose marked as defaults) and its price, the address as
/// understood, the card's discount or how to get one, the delivery fee and the total.
enum QuoteText {
    static func render(_ quote: JSONValue, asked: [AssistantSession.Line], address: String, notes: [String], zh: Bool) -> String {
        let items = quote["items"]?.array ?? []
        var lines: [String] = []
        for (index, item) in items.enumerated() {
            let chosen = index < asked.count ? asked[index] : nil
            lines.append(line(item, chosen: chosen, zh: zh))
        }
        let store = quote["merchant_name"]?.string ?? ""
        let subtotal = quote["subtotal_fen"]?.int ?? 0
        let fee = quote["delivery_fee_fen"]?.int ?? 0
        let discount = quote["discount_fen"]?.int ?? 0
        let total = quote["total_fen"]?.int ?? 0
        let when = Clock.text(quote["promised_at"]?.string, zh: zh)
        let card =
            quote["card_id"]?.string == nil
            ? (zh ? "还没有免单卡（说“领卡”先领一张）" : "no free-order card yet (say \"claim a card\" first)")
            : (zh ? "免单卡 −\(Money.text(discount)) 元" : "card −\(Money.text(discount)) yuan")
        if zh {
            return (["\(store)："] + lines + [
                "小计 \(Money.text(subtotal)) 元，配送费 \(Money.text(fee)) 元，\(card)，实付 \(Money.text(total)) 元。",
            ] + notes + ["送到：\(address)；\(when)。确认下单吗？"]).joined(separator: "\n")
        }
        return (["\(store):"] + lines + [
            "Subtotal \(Money.text(subtotal)) yuan, delivery \(Money.text(fee)) yuan, \(card), you pay \(Money.text(total)) yuan.",
        ] + notes + ["Deliver to: \(address); \(when). Shall I place it?"]).joined(separator: "\n")
    }

    /// "2杯 芋泥奶茶 大杯、少糖、少冰（默认）、加布丁 36.00 元".
    private static func line(_ item: JSONValue, chosen: AssistantSession.Line?, zh: Bool) -> String {
        let name = item["drink"]?.string ?? ""
        let drink = Catalog.drink(named: name)
        let quantity = item["quantity"]?.int ?? 1
        let price = (item["unit_price_fen"]?.int ?? 0) * quantity
        let mark = zh ? "（默认）" : " (default)"
        var options: [String] = []
        if let size = item["size"]?.string {
            let text = zh ? (size == "large" ? "大杯" : "中杯") : size
            options.append(text + (chosen?.size == nil ? mark : ""))
        }
        if let sugar = item["sugar"]?.int {
            let words: [Int64: (String, String)] = [0: ("无糖", "no sugar"), 30: ("微糖", "30% sugar"), 50: ("半糖", "half sugar"),
                                                   70: ("少糖", "70% sugar"), 100: ("全糖", "full sugar")]
            let text = words[sugar].map { zh ? $0.0 : $0.1 } ?? "\(sugar)%"
            options.append(text + (chosen?.sugar == nil && drink?.sugarChoice != false ? mark : ""))
        }
        if let ice = item["ice"]?.string {
            let words = ["none": ("去冰", "no ice"), "less": ("少冰", "less ice"), "normal": ("正常冰", "normal ice"),
                         "room": ("常温", "room temperature"), "warm": ("温", "warm"), "hot": ("热", "hot")]
            let text = words[ice].map { zh ? $0.0 : $0.1 } ?? ice
            options.append(text + (chosen?.ice == nil ? mark : ""))
        }
        for topping in item["toppings"]?.array?.compactMap(\.string) ?? [] {
            let chinese = Topping(rawValue: topping)?.chinese ?? topping
            options.append(zh ? "加\(chinese)" : "+ \(topping)")
        }
        if zh {
            return "\(quantity)杯 \(drink?.chinese ?? name) " + options.joined(separator: "、") + " \(Money.text(price)) 元"
        }
        return "\(quantity) × \(name), " + options.joined(separator: ", ") + " — \(Money.text(price)) yuan"
    }
}

/// A tool's refusal as the customer reads it, in their language, with what to do next.
enum Refusal {
    static func text(code: String, message: String, zh: Bool) -> String {
        let refusal = plainText(code: code, message: message, zh: zh)
        // The store named cannot take it, but another of its brand nearby can: say which.
        guard let marker = message.range(of: OrderDesk.alternativeMarker) else { return refusal }
        let rest = message[marker.upperBound...]
        let name = rest.components(separatedBy: " (").first ?? String(rest)
        return refusal + (zh ? "附近同品牌的 \(name) 现在可以接这一单。" : " \(name), of the same brand nearby, can take it now.")
    }

    private static func plainText(code: String, message: String, zh: Bool) -> String {
        // The desk says how long a busy store or city needs: "… in about 12 minutes".
        let wait = message.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }.last
        let minutes = wait.map { zh ? "大约 \($0) 分钟后" : "in about \($0) minutes" } ?? (zh ? "过一会儿" : "a little later")
        switch code {
        case "no_store_nearby":
            return zh ? "附近没有开着的店能做这一单。可以换个饮品、分成几单，或者晚点再试。"
                : "No open store nearby makes everything in this order. Try another drink, split the order, or try again later."
        case "store_paused":
            return zh ? "这家店暂停接单了，换一家同品牌的店，或者稍后再试。" : "That store has paused orders; try another store of the brand, or later."
        case "store_busy":
            return zh ? "这家店现在太忙了，\(minutes)就能接这一单；也可以换一家店。"
                : "That store is too busy right now; it can take this order \(minutes), or try another store."
        case "stores_at_capacity":
            return zh ? "附近的店都满单了，\(minutes)再点就能接；少点几杯也许现在就行。"
                : "Every store nearby is full; order again \(minutes), or order fewer cups now."
        case "store_closed":
            return zh ? "这家店现在没开门，换一家店，或者等它开门再点。" : "That store is closed now; try another store, or order when it opens."
        case "out_of_delivery_range":
            return zh ? "这家店离送货地址太远，骑手送不到。换一家近一点的店，或者换个地址。"
                : "That store is too far from the address for riders; pick a nearer store, or another address."
        case "out_of_stock":
            return zh ? "有一样东西卖完了：\(itemChinese(message))。换一种试试，或者换一家店。"
                : "Something in this order is sold out: \(message). Try something else, or another store."
        case "not_on_menu":
            return zh ? "这家店不卖其中一样：\(itemChinese(message))。换一家店（不指定店，我会找能做的），或者换个饮品。"
                : "That store does not sell \(message). Let me pick a store that does (name no store), or choose another drink."
        case "merchant_not_found":
            return zh ? "没找到这家店。说“菜单”看看附近的店有什么。" : "I could not find that store; say \"menu\" to see what is near you."
        case "card_not_usable":
            return zh ? "这张免单卡用不了了（已用过或已过期），可以不用卡下单，或者先领一张新卡。"
                : "That card cannot be used (spent or expired); order without it, or claim a new card first."
        case "card_not_found":
            return zh ? "没找到这张免单卡，先说“我的免单卡”看看。" : "I could not find that card; say \"my cards\" to see yours."
        case "store_unavailable":
            return zh ? "系统有点忙，几秒后再说一次就行，不会重复下单。" : "The system is busy; say it again in a few seconds, nothing is ordered twice."
        case "rate_limited":
            return zh ? "操作太快了，稍等几秒再试。" : "Too fast; wait a few seconds and try again."
        case "invalid_item", "invalid_items":
            return zh ? "这样做不了：\(itemChinese(message))。换个选项试试，或者说“菜单”看看能点什么。"
                : "That cannot be made: \(message). Try another option, or say \"menu\" to see what can be ordered."
        default:
            return zh ? "这单下不了。换个说法再试试，或者说“算了”重新开始。" : "I cannot order that: \(message). Try saying it another way, or \"start over\"."
        }
    }

    /// The desk's English reason for one line, in Chinese: "items[0]: americano takes no pearls" → "美式咖啡不能加珍珠".
    static func itemChinese(_ message: String) -> String {
        var text = message
        if let colon = text.range(of: "]: ") { text = String(text[colon.upperBound...]) }
        func drink(_ name: Substring) -> String { Catalog.drink(named: String(name))?.chinese ?? String(name) }
        func item(_ name: Substring) -> String { Topping(rawValue: String(name))?.chinese ?? drink(name) }
        if let range = text.range(of: " takes no ") {
            return "\(drink(text[..<range.lowerBound]))不能加\(item(text[range.upperBound...]))"
        }
        if let range = text.range(of: " cannot be made with sugar ") {
            return "\(drink(text[..<range.lowerBound]))不能选甜度"
        }
        if let range = text.range(of: " cannot be made ") {
            let ice = IceLevel(rawValue: String(text[range.upperBound...]))?.chinese ?? String(text[range.upperBound...])
            return "\(drink(text[..<range.lowerBound]))不能做\(ice)"
        }
        if let range = text.range(of: " has run out of ") { return "店里的\(item(text[range.upperBound...]))卖完了" }
        if let range = text.range(of: " does not sell ") { return "这家店没有\(drink(text[range.upperBound...]))" }
        if text.hasPrefix("quantity must be") { return "每种最多 \(Catalog.maximumCupsPerLine) 杯" }
        if text.hasPrefix("there is no drink") { return "菜单上没有这个饮品" }
        return "选项不对"
    }
}

/// Yuan with two decimals from fen.
enum Money {
    static func text(_ fen: Int64) -> String {
        let sign = fen < 0 ? "-" : ""
        let value = abs(fen)
        let cents = value % 100
        return "\(sign)\(value / 100).\(cents < 10 ? "0" : "")\(cents)"
    }
}

/// "预计 14:05 送达" from an RFC 3339 UTC timestamp, in China time.
enum Clock {
    static func text(_ timestamp: String?, zh: Bool) -> String {
        guard let timestamp, let date = ISO8601DateFormatter().date(from: timestamp) else {
            return zh ? "送达时间待定" : "delivery time to be confirmed"
        }
        let minute = Int((Int64(date.timeIntervalSince1970) / 60 + 8 * 60) % 1_440)
        let clock = "\(minute / 60 < 10 ? "0" : "")\(minute / 60):\(minute % 60 < 10 ? "0" : "")\(minute % 60)"
        return zh ? "预计 \(clock) 送达" : "arriving around \(clock)"
    }
}

/// Order states in Chinese.
enum State {
    static func chinese(_ state: String) -> String {
        switch state {
        case "placed": "已下单，等待商家接单"
        case "accepted": "商家制作中"
        case "ready": "已做好，等待骑手取餐"
        case "picked_up": "骑手配送中"
        case "delivered": "已送达"
        case "rejected": "商家已拒单，免单卡已退回"
        case "cancelled": "已取消"
        default: state
        }
    }
}

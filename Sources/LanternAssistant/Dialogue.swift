import Foundation
import LanternCatalog
import LanternLedger
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

    /// Session id.
    public var id: String
    /// The user the session belongs to.
    public var user: String
    /// Last turn, milliseconds since 1970.
    public var updatedAtMs: Int64
    /// The order being put together.
    public var lines: [OrderLine] = []
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
    /// The request of the quote awaiting confirmation.
    public var quotedRequest: OrderRequest?
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
    public var pendingOrder: Quote?
    /// The order placed or looked at this turn, if any.
    public var order: Order?
    /// Which engine answered: `offline`, `llm`, or `offline-fallback`.
    public var engine: String

    /// Creates a reply.
    public init(reply: String, suggestions: [String], pendingOrder: Quote?, order: Order?, engine: String) {
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
        to text: String, location: (lat: Double, lng: Double)?, session: inout AssistantSession, tools: any OrderingTools,
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
        if session.awaiting == .confirmation, Intent.confirms(words), let request = session.quotedRequest {
            do {
                let order = try await tools.place(request, idempotencyKey: "assistant-\(session.id)-\(session.quotes)")
                session.lastOrderID = order.id
                session.lines = []
                session.notes = nil
                session.quotedRequest = nil
                session.awaiting = .nothing
                let total = Money.text(order.totalFen)
                return AssistantReply(
                    reply: say("下单成功！实付 \(total) 元，\(Clock.text(order.draft.promisedAtMs, zh: true))。",
                        "Ordered! You pay \(total) yuan; \(Clock.text(order.draft.promisedAtMs, zh: false))."),
                    suggestions: say("订单到哪了|取消订单", "where is my order|cancel my order").split(separator: "|").map(String.init),
                    pendingOrder: nil, order: order, engine: "offline")
            } catch {
                session.awaiting = .nothing
                return AssistantReply(
                    reply: say("没能下单。", "The order was not placed. ") + Refusal.text(error, zh: zh),
                    suggestions: [], pendingOrder: nil, order: nil, engine: "offline")
            }
        }
        if Intent.cancelsOrder(words), let id = session.lastOrderID {
            do {
                let order = try await tools.cancel(id)
                return orderAnswer(order, say("订单已取消，免单卡已退回。", "Your order is cancelled and your card is back."))
            } catch {
                return refused(error, zh: zh)
            }
        }
        if Intent.asksStatus(words), let id = session.lastOrderID {
            do {
                let order = try await tools.order(id)
                let state = order.state.rawValue
                return orderAnswer(order, say("订单状态：\(State.chinese(state))。", "Your order is \(state.replacingOccurrences(of: "_", with: " "))."))
            } catch {
                return refused(error, zh: zh)
            }
        }
        if Intent.startsOver(words) {
            session.lines = []
            session.notes = nil
            session.offered = []
            session.brand = nil
            session.merchantID = nil
            session.setAddress(nil)
            session.quotedRequest = nil
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
            let cards = (try? await tools.cards()) ?? []
            let active = cards.filter { $0.state == .active }.count
            return AssistantReply(
                reply: say("你有 \(active) 张可用的免单卡。", "You have \(active) usable free-order card\(active == 1 ? "" : "s")."),
                suggestions: examples(zh), pendingOrder: nil, order: nil, engine: "offline")
        }

        // Fold what this turn says into the order being put together.
        let options = parsed.items.first { $0.drink == nil }
        if let choice = parsed.choice, session.awaiting == .choice, choice >= 1, choice <= session.offered.count {
            var line = OrderLine(drink: session.offered[choice - 1])
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
            session.lines = parsed.items.filter { $0.drink != nil }.map(\.line)
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
            do {
                _ = try await tools.quote(request(session, lat: lat, lng: lng, address: say("当前位置", "current location")))
            } catch where !error.code.hasPrefix("address") && error.code != "out_of_delivery_range" {
                session.awaiting = .nothing
                return AssistantReply(
                    reply: Refusal.text(error, zh: zh), suggestions: examples(zh), pendingOrder: nil, order: nil, engine: "offline")
            } catch {}
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

    /// What a turn said of a drink, over the line already in the order.
    private static func apply(_ item: ParsedItem, to line: inout OrderLine) {
        let said = item.line
        if let size = said.size { line.size = size }
        if let sugar = said.sugar { line.sugar = sugar }
        if let ice = said.ice { line.ice = ice }
        for topping in said.toppings where !line.toppings.contains(topping) { line.toppings.append(topping) }
        line.toppings.removeAll { item.removedToppings.contains($0) }
        if item.countSaid { line.quantity = said.quantity }
    }

    /// Whether a turn only changes drinks already in the order: each one named is there, none is
    /// counted, and something about it is said. Anything else is a new order.
    private static func isAmendment(_ parsed: ParsedOrder, of lines: [OrderLine]) -> Bool {
        !lines.isEmpty && !parsed.items.isEmpty
            && parsed.items.allSatisfy { item in
                !item.countSaid && item.hasOptions && lines.contains { $0.drink == item.drink }
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

    private static func orderAnswer(_ order: Order, _ success: String) -> AssistantReply {
        AssistantReply(reply: success, suggestions: [], pendingOrder: nil, order: order, engine: "offline")
    }

    private static func refused(_ failure: ToolFailure, zh: Bool) -> AssistantReply {
        AssistantReply(reply: Refusal.text(failure, zh: zh), suggestions: [], pendingOrder: nil, order: nil, engine: "offline")
    }

    /// The user's best card: the first active one.
    private static func activeCard(_ tools: any OrderingTools) async -> Card? {
        try? await tools.cards().first { $0.state == .active }
    }

    /// The nearest open store to a place and its menu, if any store is open.
    private static func nearestMenu(lat: Double, lng: Double, tools: any OrderingTools) async -> (store: Store, entries: [MenuEntry])? {
        guard let nearest = try? await tools.findStores(near: GeoPoint(lat: lat, lng: lng), query: nil, limit: 1).first else {
            return nil
        }
        return try? await tools.menu(of: nearest.store.id)
    }

    private static func offerPopular(
        session: inout AssistantSession, lat: Double, lng: Double, zh: Bool, tools: any OrderingTools
    ) async -> AssistantReply {
        guard let (store, items) = await nearestMenu(lat: lat, lng: lng, tools: tools) else {
            session.awaiting = .nothing
            return AssistantReply(
                reply: zh ? "附近暂时没有营业的店。" : "No store near you is open right now.", suggestions: [], pendingOrder: nil,
                order: nil, engine: "offline")
        }
        let cardValue = await activeCard(tools)?.valueFen ?? 0
        let offered = popular.compactMap { name in items.first { $0.drink == name && $0.available } }.prefix(3)
        session.offered = offered.map(\.drink)
        session.awaiting = .choice
        var lines: [String] = []
        for (index, item) in offered.enumerated() {
            let after = max(0, item.mediumFen - cardValue)
            lines.append(
                zh ? "\(index + 1). \(item.chinese) \(Money.text(item.mediumFen)) 元，用卡后 \(Money.text(after)) 元"
                    : "\(index + 1). \(item.drink), \(Money.text(item.mediumFen)) yuan, \(Money.text(after)) with your card")
        }
        let head = zh ? "附近的\(store.name)人气饮品：" : "Popular at \(store.name) near you:"
        return AssistantReply(
            reply: ([head] + lines).joined(separator: "\n"),
            suggestions: zh ? ["第一个", "第二个，少糖", "第三个"] : ["the first one", "the second one, less sugar", "the third one"],
            pendingOrder: nil, order: nil, engine: "offline")
    }

    /// The nearest open store's menu: drinks with their medium price.
    private static func menu(lat: Double, lng: Double, zh: Bool, tools: any OrderingTools) async -> AssistantReply {
        guard let (store, entries) = await nearestMenu(lat: lat, lng: lng, tools: tools) else {
            return AssistantReply(
                reply: zh ? "附近没有开着的店，晚点再试试。" : "No store near you is open right now; try again later.",
                suggestions: [], pendingOrder: nil, order: nil, engine: "offline")
        }
        let items = entries.filter(\.available)
        let lines = items.prefix(8).map { item -> String in
            let price = Money.text(item.mediumFen)
            return zh ? "· \(item.chinese) \(price) 元起" : "· \(item.drink), from \(price) yuan"
        }
        let head = zh ? "\(store.name) 的菜单（共 \(items.count) 种）：" : "\(store.name)'s menu (\(items.count) drinks):"
        let tail = zh ? "想喝哪个？直接说，比如“大杯\(items.first?.chinese ?? "奶茶")，少冰”。"
            : "Which would you like? Just say it, e.g. \"a large \(items.first?.drink ?? "milk tea"), less ice\"."
        return AssistantReply(
            reply: ([head] + lines + [tail]).joined(separator: "\n"), suggestions: examples(zh), pendingOrder: nil, order: nil,
            engine: "offline")
    }

    private static func quote(
        session: inout AssistantSession, lat: Double, lng: Double, address: String, understood: String, zh: Bool,
        tools: any OrderingTools
    ) async -> AssistantReply {
        var request = request(session, lat: lat, lng: lng, address: address)
        request.cardID = await activeCard(tools)?.id
        do {
            let quote = try await tools.quote(request)
            session.quotes += 1
            session.quotedRequest = request
            session.awaiting = .confirmation
            return AssistantReply(
                reply: QuoteText.render(quote, asked: session.lines, address: understood, notes: session.notes ?? [], zh: zh),
                suggestions: zh ? ["确认下单", "少糖", "换大杯", "算了"] : ["yes, place it", "less sugar", "make it large", "never mind"],
                pendingOrder: quote, order: nil, engine: "offline")
        } catch {
            session.awaiting = .nothing
            return AssistantReply(
                reply: Refusal.text(error, zh: zh), suggestions: examples(zh), pendingOrder: nil, order: nil, engine: "offline")
        }
    }

    /// The order the session's lines make, from its store or brand, to an address (no card).
    private static func request(_ session: AssistantSession, lat: Double, lng: Double, address: String) -> OrderRequest {
        OrderRequest(
            merchantID: session.merchantID, brand: session.brand, items: session.lines, cardID: nil,
            address: DeliveryAddress(lat: lat, lng: lng, text: address))
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
    static func render(_ quote: Quote, asked: [OrderLine], address: String, notes: [String], zh: Bool) -> String {
        let priced = quote.priced
        var lines: [String] = []
        for (index, item) in priced.items.enumerated() {
            let chosen = index < asked.count ? asked[index] : nil
            lines.append(line(item, chosen: chosen, zh: zh))
        }
        let store = priced.store.name
        let when = Clock.text(priced.promisedAtMs, zh: zh)
        let card =
            quote.cardID == nil
            ? (zh ? "还没有免单卡（说“领卡”先领一张）" : "no free-order card yet (say \"claim a card\" first)")
            : (zh ? "免单卡 −\(Money.text(quote.discountFen)) 元" : "card −\(Money.text(quote.discountFen)) yuan")
        let subtotal = Money.text(priced.subtotalFen)
        let fee = Money.text(priced.deliveryFeeFen)
        let total = Money.text(quote.totalFen)
        if zh {
            return (["\(store)："] + lines + [
                "小计 \(subtotal) 元，配送费 \(fee) 元，\(card)，实付 \(total) 元。",
            ] + notes + ["送到：\(address)；\(when)。确认下单吗？"]).joined(separator: "\n")
        }
        return (["\(store):"] + lines + [
            "Subtotal \(subtotal) yuan, delivery \(fee) yuan, \(card), you pay \(total) yuan.",
        ] + notes + ["Deliver to: \(address); \(when). Shall I place it?"]).joined(separator: "\n")
    }

    /// "2杯 芋泥奶茶 大杯、少糖、少冰（默认）、加布丁 36.00 元".
    private static func line(_ item: PricedLine, chosen: OrderLine?, zh: Bool) -> String {
        let line = item.line
        let drink = Catalog.drink(named: line.drink)
        let mark = zh ? "（默认）" : " (default)"
        var options: [String] = []
        if let size = line.size {
            options.append((zh ? size.chinese : size.rawValue) + (chosen?.size == nil ? mark : ""))
        }
        if let sugar = line.sugar {
            let words: [Int: (String, String)] = [0: ("无糖", "no sugar"), 30: ("微糖", "30% sugar"), 50: ("半糖", "half sugar"),
                                                 70: ("少糖", "70% sugar"), 100: ("全糖", "full sugar")]
            let text = words[sugar].map { zh ? $0.0 : $0.1 } ?? "\(sugar)%"
            options.append(text + (chosen?.sugar == nil && drink?.sugarChoice != false ? mark : ""))
        }
        if let ice = line.ice {
            options.append((zh ? ice.chinese : ice.english) + (chosen?.ice == nil ? mark : ""))
        }
        for topping in line.toppings { options.append(zh ? "加\(topping.chinese)" : "+ \(topping.rawValue)") }
        let price = Money.text(item.totalFen)
        if zh {
            return "\(line.quantity)杯 \(drink?.chinese ?? line.drink) " + options.joined(separator: "、") + " \(price) 元"
        }
        return "\(line.quantity) × \(line.drink), " + options.joined(separator: ", ") + " — \(price) yuan"
    }
}

/// A tool's refusal as the customer reads it, in their language, with what to do next.
enum Refusal {
    static func text(_ failure: ToolFailure, zh: Bool) -> String {
        text(code: failure.code, message: failure.message, zh: zh)
    }

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

/// "预计 14:05 送达" from a time in milliseconds since 1970, in the city's time.
enum Clock {
    static func text(_ ms: Int64, zh: Bool) -> String {
        let minute = OrderDesk.localMinute(atMs: ms)
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

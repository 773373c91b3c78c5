import LanternLedger

extension CampaignReport {
    /// What the report keeps of the events it is fed, in columns of numbers: users, stores and
    /// drinks by number, the campaign's cards, its card orders and how each ended (if it has),
    /// and when every user ordered anything. Cards and orders may come in either order (a shared
    /// database reads them apart), as long as an order's changes come after it.
    ///
    /// Columns rather than the events themselves: at ten million events, a dictionary entry or
    /// an order value per event is what the report's time went to.
    public struct Reading: Sendable {
        let id: String
        let includingTest: Bool
        let cardPrefix: String
        var testUsers: Set<String> = []
        var definition: Campaign?
        var expired = false
        var users = Names()
        var merchants = Names()
        var drinks = Names()
        var cards = Cards()
        var orders = Orders()
        /// Every order of every user (not only card orders): who and when.
        var anyOrderUser: [Int32] = []
        var anyOrderAt: [Int64] = []

        /// Strings numbered as they first appear.
        struct Names: Sendable {
            var numbers: [HashedName: Int32] = [:]
            var names: [String] = []

            /// One lookup for a name seen before or not (a known name's number is below the count).
            mutating func number(_ name: String) -> Int32 {
                let next = Int32(names.count)
                let number = Self.read(&numbers[HashedName(name), default: next])
                if number == next { names.append(name) }
                return number
            }

            private static func read(_ value: inout Int32) -> Int32 { value }
        }

        /// The campaign's cards, a row each.
        struct Cards: Sendable {
            /// By user number, the row of the user's latest card, or -1; each row then names the
            /// user's card before it (`earlier`). A user holds a few cards, so a walk is short,
            /// and arrays cost less than a dictionary over every card.
            var latestOfUser: [Int32] = []
            var earlier: [Int32] = []
            var ordinal: [Int32] = []
            var user: [Int32] = []
            var kind: [CardKind] = []
            var value: [Int64] = []
            var issuedAt: [Int64] = []
            /// For a welcome card, the number of the user whose referral brought its owner; -1.
            var counterpart: [Int32] = []
            var count: Int { user.count }

            /// The row of `user`'s card with `ordinal`, if there is one.
            func row(user: Int32, ordinal: Int) -> Int32? {
                guard Int(user) < latestOfUser.count else { return nil }
                var row = latestOfUser[Int(user)]
                while row >= 0 {
                    if self.ordinal[Int(row)] == ordinal { return row }
                    row = earlier[Int(row)]
                }
                return nil
            }

            /// Adds a row for `user`'s card with `ordinal`.
            mutating func append(user: Int32, ordinal: Int) {
                if Int(user) >= latestOfUser.count {
                    latestOfUser += repeatElement(-1, count: Int(user) + 1 - latestOfUser.count)
                }
                let row = count
                self.user.append(user)
                self.ordinal.append(Int32(ordinal))
                earlier.append(latestOfUser[Int(user)])
                latestOfUser[Int(user)] = Int32(row)
            }
        }

        /// The card orders of the campaign, a row each; a delivered one's `updatedAt` is its delivery.
        struct Orders: Sendable {
            var row: [HashedName: Int32] = [:]
            var user: [Int32] = []
            /// The ordinal of its user's card it was paid with.
            var cardOrdinal: [Int32] = []
            var placedAt: [Int64] = []
            var promisedAt: [Int64] = []
            var discount: [Int64] = []
            var state: [OrderState] = []
            var updatedAt: [Int64] = []
            var merchant: [Int32] = []
            /// The delivery address's cell.
            var cell: [DeliveryCell] = []
            /// Where each order's lines start in `itemDrink` and `itemQuantity` (one more entry than orders).
            var itemStart: [Int32] = [0]
            var itemDrink: [Int32] = []
            var itemQuantity: [Int32] = []
            var count: Int { user.count }
        }

        /// Starts an empty reading of `campaign`.
        public init(campaign: String, includingTest: Bool = false) {
            id = campaign
            self.includingTest = includingTest
            cardPrefix = campaign + ":"
        }

        /// The ordinal of a card id `prefix` + owner + ":" + ordinal; nil for another
        /// campaign's card. Read as bytes: millions of orders pass through here.
        static func ordinal(ofCard card: String, prefix: String) -> Int? {
            let bytes = card.utf8
            guard bytes.starts(with: prefix.utf8), let colon = bytes.lastIndex(of: UInt8(ascii: ":")) else { return nil }
            var ordinal = 0
            var digits = 0
            for byte in bytes[bytes.index(after: colon)...] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte), digits < 9 else { return nil }
                ordinal = ordinal * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
            }
            return digits > 0 ? ordinal : nil
        }

        private mutating func isLeftOut(_ user: String) -> Bool {
            guard !includingTest, user.utf8.starts(with: CampaignReport.testUserPrefix.utf8) else { return false }
            testUsers.insert(user)
            return true
        }

        /// Takes one event in.
        public mutating func add(_ event: LedgerEvent) {
            switch event {
            case .campaignCreated(let campaign), .campaignUpdated(let campaign):
                if campaign.id == id { definition = campaign }
            case .cardsExpired(let campaign, _):
                if campaign == id { expired = true }
            case .cardIssued(let issue):
                guard issue.campaign == id, !isLeftOut(issue.owner) else { return }
                let user = users.number(issue.owner)
                if let existing = cards.row(user: user, ordinal: issue.ordinal) {
                    // The same card twice (a replayed batch): the later row stands.
                    cards.kind[Int(existing)] = issue.kind
                    cards.value[Int(existing)] = issue.valueFen
                    cards.issuedAt[Int(existing)] = issue.issuedAtMs
                    cards.counterpart[Int(existing)] = issue.counterpart.map { users.number($0) } ?? -1
                    return
                }
                cards.append(user: user, ordinal: issue.ordinal)
                cards.kind.append(issue.kind)
                cards.value.append(issue.valueFen)
                cards.issuedAt.append(issue.issuedAtMs)
                cards.counterpart.append(issue.counterpart.map { users.number($0) } ?? -1)
            case .orderPlaced(let order):
                guard !isLeftOut(order.draft.user) else { return }
                let user = users.number(order.draft.user)
                anyOrderUser.append(user)
                anyOrderAt.append(order.placedAtMs)
                guard let card = order.draft.cardID, let ordinal = Self.ordinal(ofCard: card, prefix: cardPrefix) else { return }
                // The ledger only lets a user pay with their own card.
                orders.row[HashedName(order.id)] = Int32(orders.count)
                orders.user.append(user)
                orders.cardOrdinal.append(Int32(truncatingIfNeeded: ordinal))
                orders.placedAt.append(order.placedAtMs)
                orders.promisedAt.append(order.draft.promisedAtMs)
                orders.discount.append(order.discountFen)
                orders.state.append(order.state)
                orders.updatedAt.append(order.updatedAtMs)
                orders.merchant.append(merchants.number(order.draft.merchantID))
                orders.cell.append(order.draft.address.cell)
                for item in order.draft.items {
                    orders.itemDrink.append(drinks.number(item.line.drink))
                    orders.itemQuantity.append(Int32(item.line.quantity))
                }
                orders.itemStart.append(Int32(orders.itemDrink.count))
            case .orderChanged(let change):
                // Only where an order ended counts (a shared database reads nothing else).
                guard change.state.isFinal, let row = orders.row[HashedName(change.orderID)] else { return }
                orders.state[Int(row)] = change.state
                orders.updatedAt[Int(row)] = change.atMs
            }
        }
    }
}

/// A dictionary key that carries a 64-bit hash of its string: over millions of ids that share a
/// prefix and a length (order ids, user ids), a dictionary's probes then compare two integers
/// where they compared two strings' bytes (each a miss in the cache), and a resize rehashes eight
/// bytes. The bytes still decide equality, so two names whose hashes collide stay apart; names
/// are the same when their bytes are, as the databases' text keys are compared.
struct HashedName: Hashable, Sendable {
    let hash: UInt64
    let name: String

    init(_ name: String) {
        var name = name
        // FNV-1a over the UTF-8 bytes: the dictionary's own hasher still mixes the result.
        hash = name.withUTF8 { bytes in
            bytes.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
        }
        self.name = name
    }

    static func == (left: HashedName, right: HashedName) -> Bool {
        left.hash == right.hash && left.name.utf8.elementsEqual(right.name.utf8)
    }

    func hash(into hasher: inout Hasher) { hasher.combine(hash) }
}

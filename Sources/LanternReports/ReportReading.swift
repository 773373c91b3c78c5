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
        var testUsers: Set<String> = []
        var definition: Campaign?
        var expired = false
        var users = NameTable()
        var merchants = NameTable()
        var drinks = NameTable()
        var cards = Cards()
        var orders = Orders()
        /// Every order of every user (not only card orders): who and when.
        var anyOrderUser: [Int32] = []
        var anyOrderAt: [Int64] = []

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
            /// The orders' ids, each numbered by its row.
            var ids = NameTable()
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
        }

        /// Whether `name` is a test user's, left out; each such user is noted once.
        private mutating func isLeftOut(_ name: ReportName, in batch: ReportBatch) -> Bool {
            guard !includingTest, batch.bytes(of: name).starts(with: CampaignReport.testUserPrefix.utf8) else { return false }
            testUsers.insert(batch.string(name))
            return true
        }

        /// Takes in a batch of the campaign's events, read for it (`ReportBatch.campaign`).
        public mutating func add(_ batch: ReportBatch) {
            precondition(batch.campaign == id, "a report's reading takes batches read for its campaign")
            batch.bytes.withUnsafeBytes { names in
                for event in batch.events { add(event, of: batch, names: names) }
            }
        }

        private mutating func add(_ event: ReportEvent, of batch: ReportBatch, names: UnsafeRawBufferPointer) {
            switch event {
            case .campaign(let campaign):
                if campaign.id == id { definition = campaign }
            case .cardsExpired(let campaign):
                if campaign == id { expired = true }
            case .card(let card):
                guard !isLeftOut(card.owner, in: batch) else { return }
                let user = users.number(card.owner, in: names)
                let counterpart = card.counterpart.map { users.number($0, in: names) } ?? -1
                if let existing = cards.row(user: user, ordinal: Int(card.ordinal)) {
                    // The same card twice (a replayed batch): the later row stands.
                    cards.kind[Int(existing)] = card.kind
                    cards.value[Int(existing)] = card.valueFen
                    cards.issuedAt[Int(existing)] = card.issuedAtMs
                    cards.counterpart[Int(existing)] = counterpart
                    return
                }
                cards.append(user: user, ordinal: Int(card.ordinal))
                cards.kind.append(card.kind)
                cards.value.append(card.valueFen)
                cards.issuedAt.append(card.issuedAtMs)
                cards.counterpart.append(counterpart)
            case .order(let order):
                guard !isLeftOut(order.user, in: batch) else { return }
                let user = users.number(order.user, in: names)
                anyOrderUser.append(user)
                anyOrderAt.append(order.placedAtMs)
                // The ledger only lets a user pay with their own card.
                guard order.cardOrdinal >= 0 else { return }
                let row = Int(orders.ids.number(order.id, in: names))
                guard row == orders.count else {
                    // The same placement twice (a replayed batch): the later one stands, with the lines of the first.
                    orders.placedAt[row] = order.placedAtMs
                    orders.promisedAt[row] = order.promisedAtMs
                    orders.discount[row] = order.discountFen
                    return
                }
                orders.user.append(user)
                orders.cardOrdinal.append(order.cardOrdinal)
                orders.placedAt.append(order.placedAtMs)
                orders.promisedAt.append(order.promisedAtMs)
                orders.discount.append(order.discountFen)
                orders.state.append(.placed)
                orders.updatedAt.append(order.placedAtMs)
                orders.merchant.append(merchants.number(order.merchant, in: names))
                orders.cell.append(order.cell)
                for item in batch.items[Int(order.items.lowerBound)..<Int(order.items.upperBound)] {
                    orders.itemDrink.append(drinks.number(item.drink, in: names))
                    orders.itemQuantity.append(item.quantity)
                }
                orders.itemStart.append(Int32(orders.itemDrink.count))
            case .ending(let order, let state, let at):
                guard let row = orders.ids.find(order, in: names) else { return }
                orders.state[Int(row)] = state
                orders.updatedAt[Int(row)] = at
            }
        }
    }
}

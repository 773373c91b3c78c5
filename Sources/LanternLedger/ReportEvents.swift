import Foundation

/// What a campaign report reads of a run of journal events, and no more: campaigns, the
/// campaign's cards, orders' placements (seven fields of them) and endings. Names (users, order
/// ids, stores, drinks) are not strings but ranges of one byte buffer with their hash, so a
/// batch of thousands of events is three arrays to make and to free.
///
/// Why: at ten million events, making, copying and freeing whole orders with a dozen strings
/// each (of which a report reads four) is what a report's reading spends its time on. The
/// store's reader thread decodes straight into a batch, and the report's fold takes names in
/// by their hash.
public struct ReportBatch: Sendable, Equatable {
    /// Every name's bytes, one after another.
    public private(set) var bytes: [UInt8] = []
    /// The events, in the journal's order.
    public private(set) var events: [ReportEvent] = []
    /// Orders' lines, each order naming its range.
    public private(set) var items: [ReportItem] = []
    /// The campaign the batch is read for: its cards are kept and orders' cards matched against it.
    public let campaign: String

    /// An empty batch of the events a report of `campaign` reads.
    public init(campaign: String) {
        self.campaign = campaign
    }

    /// The bytes of `name`.
    public func bytes(of name: ReportName) -> ArraySlice<UInt8> {
        bytes[name.range]
    }

    /// The string `name` is.
    public func string(_ name: ReportName) -> String {
        String(decoding: bytes(of: name), as: UTF8.self)
    }

    /// Keeps `name`'s bytes and returns where they are.
    public mutating func name(_ name: UnsafeRawBufferPointer) -> ReportName {
        precondition(bytes.count + name.count <= Int(Int32.max), "a report batch holds under 2 GB of names")
        let start = Int32(bytes.count)
        bytes.append(contentsOf: name)
        return ReportName(hash: ReportName.hash(name), start: start, count: Int32(name.count))
    }

    /// Keeps `name`'s bytes and returns where they are.
    public mutating func name(_ name: String) -> ReportName {
        var name = name
        return name.withUTF8 { self.name(UnsafeRawBufferPointer($0)) }
    }

    /// Adds an event the report reads.
    public mutating func append(_ event: ReportEvent) {
        events.append(event)
    }

    /// Adds an order's line.
    mutating func appendItem(_ item: ReportItem) {
        items.append(item)
    }

    /// Adds what a report reads of `event`, if it reads anything of it.
    public mutating func append(_ event: LedgerEvent) {
        switch event {
        case .campaignCreated(let definition), .campaignUpdated(let definition):
            events.append(.campaign(definition))
        case .cardsExpired(let expired, _):
            events.append(.cardsExpired(campaign: expired))
        case .cardIssued(let issue):
            guard issue.campaign == campaign else { return }
            events.append(
                .card(
                    ReportCard(
                        owner: name(issue.owner), ordinal: Int32(truncatingIfNeeded: issue.ordinal), kind: issue.kind,
                        valueFen: issue.valueFen, issuedAtMs: issue.issuedAtMs, counterpart: issue.counterpart.map { name($0) })))
        case .orderPlaced(let order):
            let firstItem = Int32(items.count)
            for item in order.draft.items {
                items.append(ReportItem(drink: name(item.line.drink), quantity: Int32(truncatingIfNeeded: item.line.quantity)))
            }
            var cardOrdinal: Int32 = -1
            if let card = order.draft.cardID {
                var card = card
                cardOrdinal = card.withUTF8 { Self.ordinal(ofCard: UnsafeRawBufferPointer($0), campaign: campaign) }
            }
            events.append(
                .order(
                    ReportOrder(
                        id: name(order.id), user: name(order.draft.user), merchant: name(order.draft.merchantID),
                        cardOrdinal: cardOrdinal, placedAtMs: order.placedAtMs, promisedAtMs: order.draft.promisedAtMs,
                        discountFen: order.discountFen, cell: order.draft.address.cell, items: firstItem..<Int32(items.count))))
        case .orderChanged(let change):
            guard change.state.isFinal else { return }
            events.append(.ending(order: name(change.orderID), state: change.state, atMs: change.atMs))
        }
    }

    /// Adds another batch's events, after this one's.
    public mutating func append(contentsOf other: ReportBatch) {
        let (byteShift, itemShift) = (Int32(bytes.count), Int32(items.count))
        func moved(_ name: ReportName) -> ReportName {
            ReportName(hash: name.hash, start: name.start + byteShift, count: name.count)
        }
        bytes += other.bytes
        items += other.items.map { ReportItem(drink: moved($0.drink), quantity: $0.quantity) }
        events += other.events.map { event in
            switch event {
            case .campaign, .cardsExpired:
                return event
            case .card(var card):
                card.owner = moved(card.owner)
                card.counterpart = card.counterpart.map(moved)
                return .card(card)
            case .order(var order):
                (order.id, order.user, order.merchant) = (moved(order.id), moved(order.user), moved(order.merchant))
                order.items = (order.items.lowerBound + itemShift)..<(order.items.upperBound + itemShift)
                return .order(order)
            case .ending(let order, let state, let at):
                return .ending(order: moved(order), state: state, atMs: at)
            }
        }
    }

    /// The ordinal of a card id `campaign:owner:ordinal` when it is one of `campaign`'s, else -1.
    static func ordinal(ofCard card: UnsafeRawBufferPointer, campaign: String) -> Int32 {
        var campaign = campaign
        let isCampaigns = campaign.withUTF8 { prefix in
            card.count > prefix.count && card[prefix.count] == UInt8(ascii: ":")
                && memcmp(card.baseAddress!, prefix.baseAddress!, prefix.count) == 0
        }
        guard isCampaigns, let colon = card.lastIndex(of: UInt8(ascii: ":")), colon > campaign.utf8.count else { return -1 }
        var ordinal: Int32 = 0
        var digits = 0
        for byte in card[(colon + 1)...] {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte), digits < 9 else { return -1 }
            ordinal = ordinal * 10 + Int32(byte - UInt8(ascii: "0"))
            digits += 1
        }
        return digits > 0 ? ordinal : -1
    }
}

/// A name in a `ReportBatch`: where its bytes are, and their 64-bit hash, which the store's
/// reader works out so that the report's fold, the reading's critical path, never does.
public struct ReportName: Sendable, Equatable {
    /// FNV-1a of the bytes.
    public let hash: UInt64
    /// Offset of the first byte in the batch's bytes.
    public let start: Int32
    /// Bytes in the name.
    public let count: Int32

    /// Where the name's bytes are in its batch's bytes.
    public var range: Range<Int> { Int(start)..<Int(start) + Int(count) }

    /// FNV-1a over `bytes`: the same name always has the same hash, in every batch and store.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}

/// One event as a report reads it.
public enum ReportEvent: Sendable, Equatable {
    /// A campaign's definition, created or changed.
    case campaign(Campaign)
    /// A campaign's cards expired.
    case cardsExpired(campaign: String)
    /// A card of the batch's campaign.
    case card(ReportCard)
    /// An order was placed, with any card or none.
    case order(ReportOrder)
    /// An order ended: delivered, rejected or cancelled.
    case ending(order: ReportName, state: OrderState, atMs: Int64)
}

/// What a report reads of an issued card.
public struct ReportCard: Sendable, Equatable {
    /// Its owner.
    public var owner: ReportName
    /// Its position among the owner's cards.
    public var ordinal: Int32
    /// Welcome or referral.
    public var kind: CardKind
    /// Face value, fen.
    public var valueFen: Int64
    /// Issue time, ms since 1970.
    public var issuedAtMs: Int64
    /// The referrer (welcome card) or the new user (referral card).
    public var counterpart: ReportName?

    /// Creates what a report reads of a card.
    public init(owner: ReportName, ordinal: Int32, kind: CardKind, valueFen: Int64, issuedAtMs: Int64, counterpart: ReportName?) {
        self.owner = owner
        self.ordinal = ordinal
        self.kind = kind
        self.valueFen = valueFen
        self.issuedAtMs = issuedAtMs
        self.counterpart = counterpart
    }
}

/// What a report reads of a placed order.
public struct ReportOrder: Sendable, Equatable {
    /// The order id.
    public var id: ReportName
    /// Who ordered.
    public var user: ReportName
    /// The store.
    public var merchant: ReportName
    /// The ordinal of the user's card of the batch's campaign it was paid with; -1 for none.
    public var cardOrdinal: Int32
    /// When it was placed, ms since 1970.
    public var placedAtMs: Int64
    /// When it was promised at the door, ms since 1970.
    public var promisedAtMs: Int64
    /// What the card paid, fen.
    public var discountFen: Int64
    /// The delivery address's cell of about 500 m.
    public var cell: DeliveryCell
    /// Its lines in the batch's `items`.
    public var items: Range<Int32>
}

/// An order's line as a report reads it.
public struct ReportItem: Sendable, Equatable {
    /// The drink.
    public var drink: ReportName
    /// Cups of it.
    public var quantity: Int32

    /// Creates a line.
    public init(drink: ReportName, quantity: Int32) {
        self.drink = drink
        self.quantity = quantity
    }
}

import Foundation
import LanternCatalog

/// Compact binary encoding of a batch of ledger events: one journal record per group commit.
///
/// Layout: a format byte, then each event as a tag byte followed by its fields. Integers are
/// LEB128 varints (signed ones zig-zag encoded), strings are a varint length and UTF-8 bytes.
public enum JournalCodec {
    /// Version of the layout written by `encode`.
    public static let formatVersion: UInt8 = 1

    /// A journal record that cannot be decoded.
    public struct DecodingError: Error, Sendable, CustomStringConvertible {
        /// What was wrong.
        public var description: String
    }

    private enum Tag: UInt8 {
        case campaignCreated = 1
        case campaignUpdated = 2
        case cardIssued = 3
        case cardsExpired = 4
        case orderPlaced = 5
        case orderChanged = 6
    }

    /// Encodes a batch of events into one record.
    public static func encode(_ events: [LedgerEvent]) -> [UInt8] {
        var writer = Writer()
        writer.bytes.reserveCapacity(16 + events.count * 48)
        writer.byte(formatVersion)
        for event in events {
            switch event {
            case .campaignCreated(let campaign):
                writer.byte(Tag.campaignCreated.rawValue)
                writer.campaign(campaign)
            case .campaignUpdated(let campaign):
                writer.byte(Tag.campaignUpdated.rawValue)
                writer.campaign(campaign)
            case .cardIssued(let issue):
                writer.byte(Tag.cardIssued.rawValue)
                writer.string(issue.campaign)
                writer.string(issue.owner)
                writer.unsigned(UInt64(issue.ordinal))
                writer.byte(issue.kind.rawValue)
                writer.signed(issue.valueFen)
                writer.signed(issue.issuedAtMs)
                if let claim = issue.claim {
                    writer.byte(1)
                    writer.string(claim.key)
                    writer.fixed(claim.digest.high)
                    writer.fixed(claim.digest.low)
                } else {
                    writer.byte(0)
                }
                writer.optionalString(issue.counterpart)
            case .cardsExpired(let campaign, let at):
                writer.byte(Tag.cardsExpired.rawValue)
                writer.string(campaign)
                writer.signed(at.millisecondsSince1970)
            case .orderPlaced(let order):
                writer.byte(Tag.orderPlaced.rawValue)
                writer.order(order)
            case .orderChanged(let change):
                writer.byte(Tag.orderChanged.rawValue)
                writer.string(change.orderID)
                writer.string(change.state.rawValue)
                writer.signed(change.atMs)
                writer.byte(change.settlement?.rawValue ?? 0)
            }
        }
        return writer.bytes
    }

    /// Decodes one record written by `encode`.
    public static func decode(_ bytes: some Collection<UInt8>) throws(DecodingError) -> [LedgerEvent] {
        var events: [LedgerEvent] = []
        try decode(bytes, into: &events)
        return events
    }

    /// Decodes one record written by `encode` onto the end of `events`: a reader of millions of
    /// records keeps one array rather than making one a record.
    public static func decode(_ bytes: some Collection<UInt8>, into events: inout [LedgerEvent]) throws(DecodingError) {
        var reader = Reader(bytes: Array(bytes))
        let version = try reader.byte()
        guard version == formatVersion else {
            throw DecodingError(description: "unknown journal format \(version)")
        }
        while !reader.atEnd {
            guard let tag = Tag(rawValue: try reader.byte()) else {
                throw DecodingError(description: "unknown event tag at offset \(reader.offset - 1)")
            }
            switch tag {
            case .campaignCreated:
                events.append(.campaignCreated(try reader.campaign()))
            case .campaignUpdated:
                events.append(.campaignUpdated(try reader.campaign()))
            case .cardIssued:
                let campaign = try reader.string()
                let owner = try reader.string()
                let ordinal = Int(try reader.unsigned())
                guard let kind = CardKind(rawValue: try reader.byte()) else {
                    throw DecodingError(description: "unknown card kind")
                }
                let value = try reader.signed()
                let issuedAt = try reader.signed()
                var claim: ClaimKey?
                if try reader.byte() == 1 {
                    let key = try reader.string()
                    let high = try reader.fixed()
                    let low = try reader.fixed()
                    claim = ClaimKey(key: key, digest: BodyDigest(high: high, low: low))
                }
                let counterpart = try reader.optionalString()
                events.append(
                    .cardIssued(
                        CardIssue(
                            campaign: campaign, owner: owner, ordinal: ordinal, kind: kind, valueFen: value,
                            issuedAtMs: issuedAt, claim: claim, counterpart: counterpart)))
            case .cardsExpired:
                let campaign = try reader.string()
                let at = try reader.signed()
                events.append(.cardsExpired(campaign: campaign, at: Date(millisecondsSince1970: at)))
            case .orderPlaced:
                events.append(.orderPlaced(try reader.order()))
            case .orderChanged:
                let id = try reader.string()
                guard let state = OrderState(rawValue: try reader.string()) else {
                    throw DecodingError(description: "unknown order state")
                }
                let at = try reader.signed()
                let settlementByte = try reader.byte()
                let settlement = CardSettlement(rawValue: settlementByte)
                guard settlementByte == 0 || settlement != nil else { throw DecodingError(description: "unknown card settlement") }
                events.append(.orderChanged(OrderChange(orderID: id, state: state, atMs: at, settlement: settlement)))
            }
        }
    }

    private struct Writer {
        var bytes: [UInt8] = []

        mutating func byte(_ value: UInt8) { bytes.append(value) }

        mutating func unsigned(_ value: UInt64) {
            var rest = value
            while rest >= 0x80 {
                bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
                rest >>= 7
            }
            bytes.append(UInt8(rest))
        }

        mutating func signed(_ value: Int64) {
            unsigned(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
        }

        mutating func fixed(_ value: UInt64) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }

        mutating func string(_ value: String) {
            var value = value
            value.withUTF8 { utf8 in
                unsigned(UInt64(utf8.count))
                bytes.append(contentsOf: utf8)
            }
        }

        mutating func optionalString(_ value: String?) {
            if let value {
                byte(1)
                string(value)
            } else {
                byte(0)
            }
        }

        mutating func campaign(_ campaign: Campaign) {
            string(campaign.id)
            string(campaign.name)
            signed(campaign.budgetFen)
            signed(campaign.cardValueFen)
            unsigned(UInt64(campaign.maxCardsPerUser))
            signed(campaign.startsAt.millisecondsSince1970)
            signed(campaign.endsAt.millisecondsSince1970)
            signed(campaign.cardsExpireAt.millisecondsSince1970)
        }

        mutating func order(_ order: Order) {
            let draft = order.draft
            string(draft.id)
            string(draft.user)
            string(draft.merchantID)
            unsigned(UInt64(draft.items.count))
            for item in draft.items {
                let line = item.line
                string(line.drink)
                string(line.size?.rawValue ?? "")
                unsigned(UInt64(line.sugar ?? 0))
                string(line.ice?.rawValue ?? "")
                unsigned(UInt64(line.toppings.count))
                for topping in line.toppings { string(topping.rawValue) }
                unsigned(UInt64(line.quantity))
                signed(item.unitPriceFen)
            }
            optionalString(draft.cardID)
            signed(draft.deliveryFeeFen)
            fixed(draft.address.lat.bitPattern)
            fixed(draft.address.lng.bitPattern)
            string(draft.address.text)
            signed(draft.promisedAtMs)
            string(draft.idempotency.key)
            fixed(draft.idempotency.digest.high)
            fixed(draft.idempotency.digest.low)
            signed(order.discountFen)
            signed(order.placedAtMs)
        }
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        var atEnd: Bool { offset >= bytes.count }

        mutating func byte() throws(DecodingError) -> UInt8 {
            guard offset < bytes.count else { throw DecodingError(description: "record ends early") }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func unsigned() throws(DecodingError) -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let next = try byte()
                guard shift < 64 else { throw DecodingError(description: "varint too long") }
                result |= UInt64(next & 0x7f) << shift
                if next & 0x80 == 0 { return result }
                shift += 7
            }
        }

        mutating func signed() throws(DecodingError) -> Int64 {
            let raw = try unsigned()
            return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
        }

        mutating func fixed() throws(DecodingError) -> UInt64 {
            guard offset + 8 <= bytes.count else { throw DecodingError(description: "record ends early") }
            var value: UInt64 = 0
            for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
            offset += 8
            return value
        }

        mutating func string() throws(DecodingError) -> String {
            let count = Int(try unsigned())
            guard count >= 0, offset + count <= bytes.count else {
                throw DecodingError(description: "string runs past the record")
            }
            defer { offset += count }
            return String(decoding: bytes[offset..<(offset + count)], as: UTF8.self)
        }

        mutating func optionalString() throws(DecodingError) -> String? {
            try byte() == 1 ? try string() : nil
        }

        mutating func campaign() throws(DecodingError) -> Campaign {
            Campaign(
                id: try string(), name: try string(), budgetFen: try signed(), cardValueFen: try signed(),
                maxCardsPerUser: Int(try unsigned()),
                startsAt: Date(millisecondsSince1970: try signed()),
                endsAt: Date(millisecondsSince1970: try signed()),
                cardsExpireAt: Date(millisecondsSince1970: try signed()))
        }

        mutating func order() throws(DecodingError) -> Order {
            let id = try string()
            let user = try string()
            let merchant = try string()
            let count = Int(try unsigned())
            guard count <= bytes.count else { throw DecodingError(description: "order has too many items") }
            var items: [PricedLine] = []
            for _ in 0..<count {
                let drink = try string()
                let size = try string()
                let sugar = Int(try unsigned())
                let ice = try string()
                let toppingCount = Int(try unsigned())
                guard toppingCount <= bytes.count else { throw DecodingError(description: "item has too many toppings") }
                var toppings: [Topping] = []
                for _ in 0..<toppingCount {
                    let name = try string()
                    guard let topping = Topping(rawValue: name) else { throw DecodingError(description: "no topping '\(name)'") }
                    toppings.append(topping)
                }
                guard size.isEmpty || CupSize(rawValue: size) != nil else { throw DecodingError(description: "no size '\(size)'") }
                guard ice.isEmpty || IceLevel(rawValue: ice) != nil else { throw DecodingError(description: "no ice '\(ice)'") }
                let line = OrderLine(
                    drink: drink, size: CupSize(rawValue: size), sugar: sugar, ice: IceLevel(rawValue: ice), toppings: toppings,
                    quantity: Int(try unsigned()))
                items.append(PricedLine(line: line, unitPriceFen: try signed()))
            }
            let card = try optionalString()
            let fee = try signed()
            let address = DeliveryAddress(
                lat: Double(bitPattern: try fixed()), lng: Double(bitPattern: try fixed()), text: try string())
            let promised = try signed()
            let key = ClaimKey(key: try string(), digest: BodyDigest(high: try fixed(), low: try fixed()))
            let draft = OrderDraft(
                id: id, user: user, merchantID: merchant, items: items, cardID: card, deliveryFeeFen: fee,
                address: address, promisedAtMs: promised, idempotency: key)
            return Order(draft: draft, discountFen: try signed(), placedAtMs: try signed())
        }
    }
}

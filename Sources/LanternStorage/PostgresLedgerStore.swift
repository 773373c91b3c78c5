import Foundation
import LanternLedger
import Logging
import PostgresNIO

/// The PostgreSQL store: one row per card, written a batch at a time as arrays (`unnest`).
///
/// The database enforces what several Lantern nodes sharing a campaign need: the card key
/// `(campaign, owner, ordinal)` and one welcome card per user are unique, the per-user cap
/// holds, and a CHECK keeps `remaining + outstanding + spent = budget` with `remaining >= 0`,
/// so a node whose in-memory view is stale has its whole batch refused rather than overspend.
public struct PostgresLedgerStore: LedgerStore {
    /// The connection pool; run it as a service (`client.run()`).
    public let client: PostgresClient
    let logger: Logger

    /// Creates a store for `url` (`postgres://user:password@host:port/database[?sslmode=disable|require]`).
    /// Call `migrate()` once the client runs.
    public init(url: String, logger: Logger) throws {
        client = PostgresClient(configuration: try Self.configuration(url: url), backgroundLogger: logger)
        self.logger = logger
    }

    /// Builds a client configuration from a URL.
    public static func configuration(url text: String) throws -> PostgresClient.Configuration {
        guard let url = URLComponents(string: text), let host = url.host, !host.isEmpty else {
            throw StoreLocation.ParseError(description: "cannot read PostgreSQL URL '\(text)'")
        }
        let database = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        let sslMode = url.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable"
        let tls: PostgresClient.Configuration.TLS =
            sslMode == "require" ? .require(.makeClientConfiguration()) : .disable
        var configuration = PostgresClient.Configuration(
            host: host, port: url.port ?? 5432, username: url.user ?? "postgres", password: url.password,
            database: database.isEmpty ? nil : database, tls: tls)
        configuration.options.maximumConnections = 64
        return configuration
    }

    /// Runs the named, append-only schema migrations that have not run yet.
    public func migrate() async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(7337001)", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS lantern_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: logger)
            var applied = Set<String>()
            for try await name in try await connection.query("SELECT name FROM lantern_migrations", logger: logger)
                .decode(String.self)
            {
                applied.insert(name)
            }
            for (name, statements) in Self.migrations where !applied.contains(name) {
                for statement in statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO lantern_migrations(name) VALUES (\(name))", logger: logger)
            }
        }
    }

    /// Named migrations in order. Never edit one that has shipped; append a new one.
    static let migrations: [(String, [String])] = [
        (
            "v1-ledger",
            [
                """
                CREATE TABLE campaigns (
                    id text PRIMARY KEY,
                    seq bigserial UNIQUE,
                    name text NOT NULL,
                    budget_fen bigint NOT NULL CHECK (budget_fen > 0),
                    card_value_fen bigint NOT NULL CHECK (card_value_fen > 0),
                    max_cards_per_user integer NOT NULL CHECK (max_cards_per_user > 0),
                    starts_at timestamptz NOT NULL,
                    ends_at timestamptz NOT NULL,
                    cards_expire_at timestamptz NOT NULL,
                    cards_expired_at timestamptz,
                    remaining_fen bigint NOT NULL CHECK (remaining_fen >= 0),
                    outstanding_fen bigint NOT NULL CHECK (outstanding_fen >= 0),
                    spent_fen bigint NOT NULL DEFAULT 0 CHECK (spent_fen >= 0),
                    CHECK (remaining_fen + outstanding_fen + spent_fen = budget_fen)
                )
                """,
                """
                CREATE TABLE cards (
                    campaign text NOT NULL REFERENCES campaigns(id),
                    owner text NOT NULL,
                    ordinal integer NOT NULL CHECK (ordinal >= 0),
                    seq bigserial UNIQUE,
                    kind smallint NOT NULL,
                    value_fen bigint NOT NULL CHECK (value_fen > 0),
                    issued_at_ms bigint NOT NULL,
                    state text NOT NULL DEFAULT 'active',
                    idempotency_key text,
                    digest_high bigint,
                    digest_low bigint,
                    counterpart text,
                    PRIMARY KEY (campaign, owner, ordinal),
                    CHECK ((kind = 0) = (ordinal = 0))
                )
                """,
                "CREATE UNIQUE INDEX cards_one_referral_per_new_user ON cards (campaign, counterpart) WHERE kind = 1",
            ]
        ),
        ("v2-node-state", ["CREATE TABLE node_state (key text PRIMARY KEY, value bytea NOT NULL)"]),
        (
            "v3-orders",
            [
                // Order events share the cards' sequence, so replay interleaves them as they happened.
                """
                CREATE TABLE order_events (
                    seq bigint PRIMARY KEY DEFAULT nextval('cards_seq_seq'),
                    order_id text NOT NULL,
                    kind text NOT NULL,
                    payload bytea NOT NULL,
                    UNIQUE (order_id, kind)
                )
                """,
                // One ending per order, so a rejection and a cancellation racing on two nodes cannot both settle the card.
                """
                CREATE UNIQUE INDEX order_events_one_ending ON order_events (order_id)
                    WHERE kind IN ('delivered', 'rejected', 'cancelled')
                """,
            ]
        ),
        (
            "v4-audit-log",
            [
                """
                CREATE TABLE audit_log (
                    seq bigserial PRIMARY KEY,
                    at_ms bigint NOT NULL,
                    actor text NOT NULL,
                    action text NOT NULL,
                    target text NOT NULL,
                    detail text NOT NULL
                )
                """
            ]
        ),
    ]

    /// Writes the batch in one transaction: campaign changes in order, cards as one array insert
    /// that also moves their value from remaining to outstanding.
    public func append(_ events: [LedgerEvent]) async throws {
        try await client.withTransaction(logger: logger) { connection in
            var cards = CardColumns()
            for event in events {
                if case .cardIssued(let issue) = event {
                    cards.append(issue)
                    continue
                }
                try await insert(&cards, on: connection)
                switch event {
                case .campaignCreated(let c):
                    try await connection.query(
                        """
                        INSERT INTO campaigns (id, name, budget_fen, card_value_fen, max_cards_per_user, starts_at, ends_at,
                            cards_expire_at, remaining_fen, outstanding_fen)
                        VALUES (\(c.id), \(c.name), \(c.budgetFen), \(c.cardValueFen), \(Int32(c.maxCardsPerUser)),
                            \(c.startsAt), \(c.endsAt), \(c.cardsExpireAt), \(c.budgetFen), 0)
                        """, logger: logger)
                case .campaignUpdated(let c):
                    try await connection.query(
                        """
                        UPDATE campaigns SET name = \(c.name), max_cards_per_user = \(Int32(c.maxCardsPerUser)),
                            starts_at = \(c.startsAt), ends_at = \(c.endsAt), cards_expire_at = \(c.cardsExpireAt)
                        WHERE id = \(c.id)
                        """, logger: logger)
                case .cardsExpired(let campaign, let at):
                    try await connection.query(
                        "UPDATE cards SET state = 'expired' WHERE campaign = \(campaign) AND state = 'active'",
                        logger: logger)
                    try await connection.query(
                        """
                        UPDATE campaigns SET remaining_fen = remaining_fen + outstanding_fen, outstanding_fen = 0,
                            cards_expired_at = \(at)
                        WHERE id = \(campaign)
                        """, logger: logger)
                case .orderPlaced(let order):
                    try await place(order, on: connection)
                case .orderChanged(let change):
                    try await apply(change, on: connection)
                case .cardIssued:
                    break
                }
            }
            try await insert(&cards, on: connection)
        }
    }

    /// Records a placement and redeems its card: the card must still be active in the database
    /// (another node cannot have used it), the discount is spent and the rest released.
    private func place(_ order: Order, on connection: PostgresConnection) async throws {
        let payload = ByteBuffer(bytes: JournalCodec.encode([.orderPlaced(order)]))
        try await connection.query(
            "INSERT INTO order_events (order_id, kind, payload) VALUES (\(order.id), 'placed', \(payload))", logger: logger)
        guard let cardID = order.draft.cardID else { return }
        let value = try await moveCard(cardID, from: "active", to: "redeemed", on: connection)
        try await connection.query(
            """
            UPDATE campaigns SET outstanding_fen = outstanding_fen - \(value), spent_fen = spent_fen + \(order.discountFen),
                remaining_fen = remaining_fen + \(value - order.discountFen)
            WHERE id = \(Self.campaign(of: cardID))
            """, logger: logger)
    }

    /// Records a state change and settles the card of a rejected or cancelled order.
    private func apply(_ change: OrderChange, on connection: PostgresConnection) async throws {
        let payload = ByteBuffer(bytes: JournalCodec.encode([.orderChanged(change)]))
        try await connection.query(
            "INSERT INTO order_events (order_id, kind, payload) VALUES (\(change.orderID), \(change.state.rawValue), \(payload))",
            logger: logger)
        guard let settlement = change.settlement else { return }
        let rows = try await connection.query(
            "SELECT payload FROM order_events WHERE order_id = \(change.orderID) AND kind = 'placed'", logger: logger)
        var placed: Order?
        for try await bytes in rows.decode(ByteBuffer.self) {
            if case .orderPlaced(let order) = try JournalCodec.decode(Array(bytes.readableBytesView)).first { placed = order }
        }
        guard let order = placed, let cardID = order.draft.cardID else {
            throw PostgresLedgerStoreError(message: "order \(change.orderID) settles a card but its placement is missing")
        }
        let campaign = Self.campaign(of: cardID)
        switch settlement {
        case .returned:
            let value = try await moveCard(cardID, from: "redeemed", to: "active", on: connection)
            try await connection.query(
                """
                UPDATE campaigns SET spent_fen = spent_fen - \(order.discountFen), outstanding_fen = outstanding_fen + \(value),
                    remaining_fen = remaining_fen - \(value - order.discountFen)
                WHERE id = \(campaign)
                """, logger: logger)
        case .released:
            _ = try await moveCard(cardID, from: "redeemed", to: "voided", on: connection)
            try await connection.query(
                """
                UPDATE campaigns SET spent_fen = spent_fen - \(order.discountFen), remaining_fen = remaining_fen + \(order.discountFen)
                WHERE id = \(campaign)
                """, logger: logger)
        }
    }

    /// Moves one card between states; throws unless exactly that card was in state `from`. Returns its value.
    private func moveCard(_ cardID: String, from: String, to: String, on connection: PostgresConnection) async throws -> Int64 {
        let parts = cardID.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let ordinal = Int32(parts[2]) else {
            throw PostgresLedgerStoreError(message: "malformed card id \(cardID)")
        }
        let rows = try await connection.query(
            """
            UPDATE cards SET state = \(to)
            WHERE campaign = \(parts[0]) AND owner = \(parts[1]) AND ordinal = \(ordinal) AND state = \(from)
            RETURNING value_fen
            """, logger: logger)
        var values: [Int64] = []
        for try await value in rows.decode(Int64.self) { values.append(value) }
        guard values.count == 1 else {
            throw PostgresLedgerStoreError(message: "card \(cardID) is not \(from) in the database")
        }
        return values[0]
    }

    private static func campaign(of cardID: String) -> String {
        String(cardID.prefix { $0 != ":" })
    }

    private func insert(_ cards: inout CardColumns, on connection: PostgresConnection) async throws {
        guard cards.count > 0 else { return }
        let expected = cards.count
        let rows = try await connection.query(
            """
            WITH new_cards AS (
                INSERT INTO cards (campaign, owner, ordinal, kind, value_fen, issued_at_ms, idempotency_key,
                    digest_high, digest_low, counterpart)
                SELECT u.campaign, u.owner, u.ordinal, u.kind, u.value_fen, u.issued_at_ms, NULLIF(u.key, ''),
                    u.digest_high, u.digest_low, NULLIF(u.counterpart, '')
                FROM unnest(\(cards.campaigns)::text[], \(cards.owners)::text[], \(cards.ordinals)::int4[],
                    \(cards.kinds)::int2[], \(cards.values)::int8[], \(cards.issuedAt)::int8[], \(cards.keys)::text[],
                    \(cards.digestHigh)::int8[], \(cards.digestLow)::int8[], \(cards.counterparts)::text[])
                    WITH ORDINALITY AS u(campaign, owner, ordinal, kind, value_fen, issued_at_ms, key, digest_high,
                        digest_low, counterpart, n)
                JOIN campaigns c ON c.id = u.campaign AND u.ordinal < c.max_cards_per_user
                    AND c.cards_expired_at IS NULL AND u.value_fen = c.card_value_fen
                ORDER BY u.n
                RETURNING campaign, value_fen
            ), totals AS (
                SELECT campaign, sum(value_fen)::int8 AS total, count(*)::int8 AS cards FROM new_cards GROUP BY campaign
            )
            UPDATE campaigns SET remaining_fen = remaining_fen - totals.total,
                outstanding_fen = outstanding_fen + totals.total
            FROM totals WHERE campaigns.id = totals.campaign
            RETURNING totals.cards
            """, logger: logger)
        var inserted: Int64 = 0
        for try await count in rows.decode(Int64.self) { inserted += count }
        guard inserted == Int64(expected) else {
            throw PostgresLedgerStoreError(
                message: "the database accepted \(inserted) of \(expected) cards (cap, expiry or value rule)")
        }
        cards = CardColumns()
    }

    /// Reads campaigns, then cards and order events in the order they were written, then expiries.
    public func loadJournal() async throws -> [[LedgerEvent]] {
        var campaigns: [LedgerEvent] = []
        var expiries: [LedgerEvent] = []
        let campaignRows = try await client.query(
            """
            SELECT id, name, budget_fen, card_value_fen, max_cards_per_user, starts_at, ends_at, cards_expire_at,
                cards_expired_at
            FROM campaigns ORDER BY seq
            """, logger: logger)
        for try await (id, name, budget, value, cap, starts, ends, expire, expired) in campaignRows.decode(
            (String, String, Int64, Int64, Int32, Date, Date, Date, Date?).self)
        {
            campaigns.append(
                .campaignCreated(
                    Campaign(
                        id: id, name: name, budgetFen: budget, cardValueFen: value, maxCardsPerUser: Int(cap),
                        startsAt: starts, endsAt: ends, cardsExpireAt: expire)))
            if let expired { expiries.append(.cardsExpired(campaign: id, at: expired)) }
        }
        var cards: [(seq: Int64, event: LedgerEvent)] = []
        let cardRows = try await client.query(
            """
            SELECT seq, campaign, owner, ordinal, kind, value_fen, issued_at_ms, idempotency_key, digest_high, digest_low,
                counterpart
            FROM cards ORDER BY seq
            """, logger: logger)
        for try await (seq, campaign, owner, ordinal, kind, value, issuedAt, key, high, low, counterpart) in cardRows.decode(
            (Int64, String, String, Int32, Int16, Int64, Int64, String?, Int64?, Int64?, String?).self)
        {
            var claim: ClaimKey?
            if let key, let high, let low {
                claim = ClaimKey(
                    key: key, digest: BodyDigest(high: UInt64(bitPattern: high), low: UInt64(bitPattern: low)))
            }
            cards.append(
                (seq, .cardIssued(
                    CardIssue(
                        campaign: campaign, owner: owner, ordinal: Int(ordinal),
                        kind: CardKind(rawValue: UInt8(kind)) ?? .welcome, valueFen: value, issuedAtMs: issuedAt,
                        claim: claim, counterpart: counterpart))))
        }
        var orderEvents: [(seq: Int64, event: LedgerEvent)] = []
        let orderRows = try await client.query("SELECT seq, payload FROM order_events ORDER BY seq", logger: logger)
        for try await (seq, payload) in orderRows.decode((Int64, ByteBuffer).self) {
            for event in try JournalCodec.decode(Array(payload.readableBytesView)) { orderEvents.append((seq, event)) }
        }
        // Cards and order events share one sequence: merge them back into the order they happened.
        var merged: [LedgerEvent] = []
        merged.reserveCapacity(cards.count + orderEvents.count)
        var c = 0
        var o = 0
        while c < cards.count || o < orderEvents.count {
            if o == orderEvents.count || (c < cards.count && cards[c].seq < orderEvents[o].seq) {
                merged.append(cards[c].event)
                c += 1
            } else {
                merged.append(orderEvents[o].event)
                o += 1
            }
        }
        return [campaigns, merged, expiries]
    }

    /// Upserts one row of `node_state`.
    public func saveState(_ value: [UInt8], key: String) async throws {
        try await client.query(
            """
            INSERT INTO node_state(key, value) VALUES (\(key), \(ByteBuffer(bytes: value)))
            ON CONFLICT (key) DO UPDATE SET value = excluded.value
            """, logger: logger)
    }

    /// Reads one row of `node_state`.
    public func loadState(key: String) async throws -> [UInt8]? {
        let rows = try await client.query("SELECT value FROM node_state WHERE key = \(key)", logger: logger)
        for try await value in rows.decode(ByteBuffer.self) { return Array(value.readableBytesView) }
        return nil
    }

    /// Runs `SELECT 1`.
    public func ping() async throws {
        try await client.query("SELECT 1", logger: logger)
    }
}

/// The database refused part of a batch.
public struct PostgresLedgerStoreError: Error, CustomStringConvertible {
    /// What was refused.
    public var message: String
    /// Same as `message`.
    public var description: String { message }
}

/// Card fields as parallel arrays, the shape `unnest` takes.
private struct CardColumns {
    var campaigns: [String] = []
    var owners: [String] = []
    var ordinals: [Int32] = []
    var kinds: [Int16] = []
    var values: [Int64] = []
    var issuedAt: [Int64] = []
    var keys: [String] = []
    var digestHigh: [Int64] = []
    var digestLow: [Int64] = []
    var counterparts: [String] = []

    var count: Int { campaigns.count }

    mutating func append(_ issue: CardIssue) {
        campaigns.append(issue.campaign)
        owners.append(issue.owner)
        ordinals.append(Int32(issue.ordinal))
        kinds.append(Int16(issue.kind.rawValue))
        values.append(issue.valueFen)
        issuedAt.append(issue.issuedAtMs)
        keys.append(issue.claim?.key ?? "")
        digestHigh.append(Int64(bitPattern: issue.claim?.digest.high ?? 0))
        digestLow.append(Int64(bitPattern: issue.claim?.digest.low ?? 0))
        counterparts.append(issue.counterpart ?? "")
    }
}

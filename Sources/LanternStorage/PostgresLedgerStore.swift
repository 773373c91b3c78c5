import Foundation
import LanternLedger
import Logging
import PostgresNIO

/// The PostgreSQL store: the truth for one node or several sharing a campaign.
///
/// Cards are one row each, written a batch at a time as arrays (`unnest`). The database enforces
/// what nodes sharing a campaign need: the card key `(campaign, owner, ordinal)` and one welcome
/// card per user are unique (a card another node issued first is refused on its own, the rest of
/// the batch commits), the per-user cap holds, and each node issues only against its budget lease
/// (`budget_leases`, `used_fen <= granted_fen`), so a batch of claims writes its lease row and
/// never the campaign row. A CHECK keeps `remaining + leased + outstanding + spent = budget` with
/// `remaining >= 0` on the campaign row at every commit.
public struct PostgresLedgerStore: LedgerStore {
    /// The connection pool; run it as a service (`client.run()`).
    public let client: PostgresClient
    let logger: Logger
    /// This server's name among the nodes sharing the database: its lease and its orders are under it.
    public let node: String
    /// Where the database is (host, port and name, never the password), for the operator's logs.
    let address: String

    /// Creates a store for `url` (`postgres://user:password@host:port/database[?sslmode=disable|require]`).
    /// Call `migrate()` once the client runs.
    public init(url: String, logger: Logger, node: String = defaultNodeID()) throws {
        let configuration = try Self.configuration(url: url)
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
        self.node = node
        address = "\(configuration.host ?? "?"):\(configuration.port ?? 5432)/\(configuration.database ?? "")"
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
        // A server that accepts the connection and does not answer (stalled) costs a pool slot
        // this long, not the default ten seconds.
        configuration.options.connectTimeout = .seconds(3)
        // A transaction its client gave up on (a commit abandoned while the database was
        // failing over) must not hold its row locks for ever, and a statement waiting on a
        // lock must fail rather than wait behind one: the node retries on a fresh connection.
        configuration.options.additionalStartupParameters = [
            ("idle_in_transaction_session_timeout", "10s"), ("lock_timeout", "10s"),
        ]
        return configuration
    }

    /// Runs the named, append-only schema migrations that have not run yet.
    ///
    /// This is a node's first query. Against a database that does not answer (down, or failing
    /// over) it waits for as long as that lasts, as a node started during a failover should; it
    /// logs a warning every `warningEvery` meanwhile, so that an operator who named the wrong
    /// server, or a dead one, sees why the node is not ready.
    public func migrate(warningEvery interval: Duration = .seconds(5)) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runMigrations() }
            group.addTask { [logger, address] in
                let clock = ContinuousClock()
                let start = clock.now
                while true {
                    try await Task.sleep(for: interval)
                    let waited = (clock.now - start).components.seconds
                    logger.warning(
                        "PostgreSQL has not answered yet; still trying",
                        metadata: ["database": "\(address)", "waited_s": "\(waited)"])
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    private func runMigrations() async throws {
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
        (
            "v5-budget-leases",
            [
                // Value a node has reserved in a lease is counted on the campaign row as leased;
                // the cards a lease paid for move to outstanding when the lease is settled, so a
                // redemption of a card still inside a lease can take outstanding below zero
                // until then. The identity over the four columns holds at every commit.
                """
                ALTER TABLE campaigns ADD COLUMN leased_fen bigint NOT NULL DEFAULT 0 CHECK (leased_fen >= 0),
                    ADD COLUMN cards_issued bigint NOT NULL DEFAULT 0,
                    DROP CONSTRAINT campaigns_check, DROP CONSTRAINT campaigns_outstanding_fen_check
                """,
                "UPDATE campaigns SET cards_issued = (SELECT count(*) FROM cards WHERE cards.campaign = campaigns.id)",
                """
                ALTER TABLE campaigns ADD CONSTRAINT campaigns_budget_identity
                    CHECK (remaining_fen + leased_fen + outstanding_fen + spent_fen = budget_fen)
                """,
                """
                CREATE TABLE budget_leases (
                    campaign text NOT NULL REFERENCES campaigns(id),
                    node text NOT NULL,
                    granted_fen bigint NOT NULL,
                    used_fen bigint NOT NULL DEFAULT 0,
                    cards bigint NOT NULL DEFAULT 0,
                    claim_rate_fen bigint NOT NULL DEFAULT 0,
                    expires_at timestamptz NOT NULL,
                    PRIMARY KEY (campaign, node),
                    CHECK (used_fen >= 0 AND used_fen <= granted_fen)
                )
                """,
                "ALTER TABLE order_events ADD COLUMN user_id text, ADD COLUMN node text",
                "CREATE INDEX order_events_by_user ON order_events (user_id) WHERE kind = 'placed'",
                "CREATE INDEX order_events_by_node ON order_events (node) WHERE kind = 'placed'",
            ]
        ),
        (
            "v6-shared-waiting-rooms",
            [
                // One waiting room per campaign for every node: places are reserved in blocks,
                // the frontier moves at the campaign's rate (fixed, or the live nodes' rates added up).
                """
                CREATE TABLE waiting_rooms (
                    campaign text PRIMARY KEY,
                    issued bigint NOT NULL DEFAULT 0,
                    admitted float8 NOT NULL DEFAULT 0,
                    pre_queue_size bigint,
                    shuffle_seed bigint NOT NULL,
                    fixed_rate float8,
                    updated_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                """
                CREATE TABLE waiting_room_nodes (
                    campaign text NOT NULL,
                    node text NOT NULL,
                    rate float8 NOT NULL,
                    seen_at timestamptz NOT NULL,
                    PRIMARY KEY (campaign, node)
                )
                """,
            ]
        ),
        (
            "v7-node-state-saved-at",
            // When each piece of state was last saved, so retention can drop stale ones.
            ["ALTER TABLE node_state ADD COLUMN saved_at_ms bigint NOT NULL DEFAULT 0"]
        ),
        (
            "v8-report-reading",
            // The report reads placements and endings in order, not the steps between them (three
            // rows in five): without this index each of its pages read and threw away those too.
            [
                """
                CREATE INDEX order_events_read_by_report ON order_events (seq)
                    WHERE kind IN ('placed', 'delivered', 'rejected', 'cancelled')
                """
            ]
        ),
    ]

    /// Writes the batch and fails if the database refused any of its cards (tools that expect
    /// every event to apply; the engine calls `commit`).
    public func append(_ events: [LedgerEvent]) async throws {
        let report = try await commit(events)
        guard report.refused.isEmpty else {
            throw PostgresLedgerStoreError(message: "the database refused \(report.refused.count) cards")
        }
    }

    /// Writes the batch in one transaction: campaign and order changes in order, cards as array
    /// inserts that skip any card the database already holds (reported back, one by one) and
    /// charge the rest to this node's budget lease.
    public func commit(_ events: [LedgerEvent]) async throws -> CommitReport {
        try await client.withTransaction(logger: logger) { connection in
            var cards: [CardIssue] = []
            var report = CommitReport()
            let (feedLocked, placements) = try await lockInOrder(for: events, on: connection)
            for event in events {
                if case .cardIssued(let issue) = event {
                    cards.append(issue)
                    continue
                }
                report.refused += try await insert(&cards, on: connection)
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
                    try await expire(campaign, at: at, on: connection)
                case .orderPlaced(let order):
                    try await place(order, on: connection)
                case .orderChanged(let change):
                    try await apply(change, placed: placements[change.orderID], on: connection)
                case .cardIssued:
                    break
                }
            }
            report.refused += try await insert(&cards, on: connection)
            if feedLocked { try await connection.query("SELECT pg_notify('lantern_orders', '')", logger: logger) }
            return report
        }
    }

    /// Takes, before the batch writes anything, the locks its later events need, in the one
    /// order every transaction takes them: the order feed, then campaign rows by id, then lease
    /// rows (the card inserts). Taken as the events come, a batch that charges its lease and
    /// then redeems a card would wait for the campaign row while the keeper, holding that row
    /// to extend the lease, waits for the lease: a deadlock. Returns whether the feed is locked,
    /// and the placements of the orders whose card the batch settles (read here once).
    ///
    /// Order events are followed by sequence number on every node; writers take the feed's lock
    /// in turn so that they commit in the order of their numbers and a follower never passes
    /// over one.
    private func lockInOrder(for events: [LedgerEvent], on connection: PostgresConnection) async throws -> (
        feed: Bool, placements: [String: Order]
    ) {
        var campaigns = Set<String>()
        var settled: [String] = []
        var placements: [String: Order] = [:]
        var feed = false
        for event in events {
            switch event {
            case .campaignUpdated(let campaign): campaigns.insert(campaign.id)
            case .cardsExpired(let campaign, _): campaigns.insert(campaign)
            case .orderPlaced(let order):
                feed = true
                placements[order.id] = order
                if let card = order.draft.cardID { campaigns.insert(Self.campaign(of: card)) }
            case .orderChanged(let change):
                feed = true
                if change.settlement != nil, placements[change.orderID] == nil { settled.append(change.orderID) }
            case .campaignCreated, .cardIssued: break
            }
        }
        if feed { try await connection.query("SELECT pg_advisory_xact_lock(7337002)", logger: logger) }
        if !settled.isEmpty {
            // A settled card's campaign is in its order's placement (one placed in this batch
            // was counted above).
            let rows = try await connection.query(
                "SELECT payload FROM order_events WHERE order_id = ANY(\(settled)) AND kind = 'placed'", logger: logger)
            for try await bytes in rows.decode(ByteBuffer.self) {
                if case .orderPlaced(let order) = try JournalCodec.decode(bytes.readableBytesView).first {
                    placements[order.id] = order
                    if let card = order.draft.cardID { campaigns.insert(Self.campaign(of: card)) }
                }
            }
        }
        if !campaigns.isEmpty {
            try await connection.query(
                "SELECT 1 FROM campaigns WHERE id = ANY(\(campaigns.sorted())) ORDER BY id FOR NO KEY UPDATE", logger: logger)
        }
        return (feed, placements)
    }

    /// Settles every lease of the campaign (another node's lease included: its cards are
    /// counted, its unused value returned), then expires the active cards. Several nodes may
    /// sweep the same campaign; only the first expiry applies.
    private func expire(_ campaign: String, at: Date, on connection: PostgresConnection) async throws {
        let rows = try await connection.query(
            "SELECT 1 FROM campaigns WHERE id = \(campaign) AND cards_expired_at IS NULL FOR NO KEY UPDATE", logger: logger)
        var open = false
        for try await _ in rows { open = true }
        guard open else { return }
        try await settleLeases(campaign: campaign, where: "true", on: connection)
        try await connection.query(
            "UPDATE cards SET state = 'expired' WHERE campaign = \(campaign) AND state = 'active'", logger: logger)
        try await connection.query(
            """
            UPDATE campaigns SET remaining_fen = remaining_fen + outstanding_fen, outstanding_fen = 0, cards_expired_at = \(at)
            WHERE id = \(campaign)
            """, logger: logger)
    }

    /// Records a placement and redeems its card: the card must still be active in the database
    /// (another node cannot have used it), the discount is spent and the rest released.
    private func place(_ order: Order, on connection: PostgresConnection) async throws {
        let payload = ByteBuffer(bytes: JournalCodec.encode([.orderPlaced(order)]))
        try await connection.query(
            """
            INSERT INTO order_events (order_id, kind, payload, user_id, node)
            VALUES (\(order.id), 'placed', \(payload), \(order.draft.user), \(node))
            """, logger: logger)
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
    private func apply(_ change: OrderChange, placed: Order?, on connection: PostgresConnection) async throws {
        let payload = ByteBuffer(bytes: JournalCodec.encode([.orderChanged(change)]))
        // The change carries its order's user, so a node following the feed knows whose stream it is for.
        try await connection.query(
            """
            INSERT INTO order_events (order_id, kind, payload, user_id)
            VALUES (\(change.orderID), \(change.state.rawValue), \(payload),
                (SELECT user_id FROM order_events WHERE order_id = \(change.orderID) AND kind = 'placed'))
            """, logger: logger)
        guard let settlement = change.settlement else { return }
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

    /// Inserts the cards, welcome cards first and then the bonuses of referees whose welcome
    /// card went in, skipping any card the database already holds or its rules refuse; what went
    /// in is charged to this node's lease in the same statement. Returns the refused cards.
    private func insert(_ cards: inout [CardIssue], on connection: PostgresConnection) async throws -> [RefusedCard] {
        guard !cards.isEmpty else { return [] }
        defer { cards = [] }
        var refused = try await insertRows(cards.filter { $0.ordinal == 0 }, on: connection)
        let refusedReferees = Set(refused.map { CardKey($0) })
        var bonuses: [CardIssue] = []
        for issue in cards where issue.ordinal > 0 {
            // A bonus stands only with its referee's welcome card.
            if let referee = issue.counterpart,
                !refusedReferees.contains(CardKey(campaign: issue.campaign, owner: referee, ordinal: 0))
            {
                bonuses.append(issue)
            } else {
                refused.append(issue)
            }
        }
        refused += try await insertRows(bonuses, on: connection)
        return try await describe(refused, on: connection)
    }

    /// Inserts card rows that pass the campaign's rules and are not held yet, and adds them to
    /// this node's lease (whose CHECK refuses an overspend), in one round trip that answers one
    /// row; returns the cards that did not go in. Only when some did not does a second query ask
    /// which: a batch from a crowd of new users costs no more than its insert.
    private func insertRows(_ cards: [CardIssue], on connection: PostgresConnection) async throws -> [CardIssue] {
        guard !cards.isEmpty else { return [] }
        let columns = CardColumns(cards)
        let rows = try await connection.query(
            """
            WITH new_cards AS (
                INSERT INTO cards (campaign, owner, ordinal, kind, value_fen, issued_at_ms, idempotency_key,
                    digest_high, digest_low, counterpart)
                SELECT u.campaign, u.owner, u.ordinal, u.kind, u.value_fen, u.issued_at_ms, NULLIF(u.key, ''),
                    u.digest_high, u.digest_low, NULLIF(u.counterpart, '')
                FROM unnest(\(columns.campaigns)::text[], \(columns.owners)::text[], \(columns.ordinals)::int4[],
                    \(columns.kinds)::int2[], \(columns.values)::int8[], \(columns.issuedAt)::int8[], \(columns.keys)::text[],
                    \(columns.digestHigh)::int8[], \(columns.digestLow)::int8[], \(columns.counterparts)::text[])
                    AS u(campaign, owner, ordinal, kind, value_fen, issued_at_ms, key, digest_high, digest_low, counterpart)
                JOIN campaigns c ON c.id = u.campaign AND u.ordinal < c.max_cards_per_user
                    AND c.cards_expired_at IS NULL AND u.value_fen = c.card_value_fen
                -- In key order: two nodes inserting the same users wait for each other in one order, never in a cycle.
                ORDER BY u.campaign, u.owner, u.ordinal
                ON CONFLICT DO NOTHING
                RETURNING campaign, value_fen
            ), totals AS (
                SELECT campaign, sum(value_fen)::int8 AS fen, count(*)::int8 AS cards FROM new_cards GROUP BY campaign
            ), charged AS (
                UPDATE budget_leases SET used_fen = budget_leases.used_fen + totals.fen,
                    cards = budget_leases.cards + totals.cards
                FROM totals WHERE budget_leases.campaign = totals.campaign AND budget_leases.node = \(node)
                RETURNING budget_leases.campaign
            )
            SELECT coalesce((SELECT sum(cards) FROM totals), 0)::int8, (SELECT count(*) FROM charged)::int8,
                (SELECT count(*) FROM totals)::int8
            """, logger: logger)
        var inserted: Int64 = 0
        for try await (count, charged, campaigns) in rows.decode((Int64, Int64, Int64).self) {
            guard charged == campaigns else {
                throw PostgresLedgerStoreError(message: "node \(node) holds no budget lease for a campaign it issued cards in")
            }
            inserted = count
        }
        guard inserted < cards.count else { return [] }
        // Which went in: the rows this transaction wrote (a retry can carry the very facts of
        // the card it repeats, so only the writer tells them apart).
        var written = Set<CardKey>()
        let found = try await connection.query(
            """
            SELECT cards.campaign, cards.owner, cards.ordinal FROM cards
            JOIN unnest(\(columns.campaigns)::text[], \(columns.owners)::text[], \(columns.ordinals)::int4[])
                AS u(campaign, owner, ordinal)
                ON cards.campaign = u.campaign AND cards.owner = u.owner AND cards.ordinal = u.ordinal
            WHERE age(cards.xmin) = 0
            """, logger: logger)
        for try await (campaign, owner, ordinal) in found.decode((String, String, Int32).self) {
            written.insert(CardKey(campaign: campaign, owner: owner, ordinal: Int(ordinal)))
        }
        return cards.filter { !written.contains(CardKey($0)) }
    }

    /// Pairs each refused welcome card with the welcome card the database holds for that user.
    private func describe(_ refused: [CardIssue], on connection: PostgresConnection) async throws -> [RefusedCard] {
        let welcome = refused.filter { $0.ordinal == 0 }
        var existing: [CardKey: StoredCard] = [:]
        if !welcome.isEmpty {
            let rows = try await connection.query(
                """
                SELECT \(unescaped: Self.cardColumns) FROM cards
                JOIN unnest(\(welcome.map(\.campaign))::text[], \(welcome.map(\.owner))::text[]) AS u(campaign, owner)
                    ON cards.campaign = u.campaign AND cards.owner = u.owner AND cards.ordinal = 0
                """, logger: logger)
            for card in try await Self.storedCards(rows) { existing[CardKey(card.issue)] = card }
        }
        return refused.map { RefusedCard(issue: $0, existing: existing[CardKey($0)]) }
    }

    /// The columns `storedCards` reads, in its order.
    static let cardColumns = """
        cards.campaign, cards.owner, cards.ordinal, cards.kind, cards.value_fen, cards.issued_at_ms, cards.idempotency_key,
        cards.digest_high, cards.digest_low, cards.counterpart, cards.state
        """

    /// Reads rows of `cardColumns`.
    static func storedCards(_ rows: PostgresRowSequence) async throws -> [StoredCard] {
        var cards: [StoredCard] = []
        for try await (campaign, owner, ordinal, kind, value, issuedAt, key, high, low, counterpart, state) in rows.decode(
            (String, String, Int32, Int16, Int64, Int64, String?, Int64?, Int64?, String?, String).self)
        {
            var claim: ClaimKey?
            if let key, let high, let low {
                claim = ClaimKey(key: key, digest: BodyDigest(high: UInt64(bitPattern: high), low: UInt64(bitPattern: low)))
            }
            let issue = CardIssue(
                campaign: campaign, owner: owner, ordinal: Int(ordinal), kind: CardKind(rawValue: UInt8(kind)) ?? .welcome,
                valueFen: value, issuedAtMs: issuedAt, claim: claim, counterpart: counterpart)
            cards.append(StoredCard(issue: issue, state: CardState(rawValue: state) ?? .active))
        }
        return cards
    }

    /// Reads campaigns, then cards and order events in the order they were written, then expiries.
    public func loadJournal() async throws -> [[LedgerEvent]] {
        let (campaigns, expiries) = try await campaignEvents()
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
            for event in try JournalCodec.decode(payload.readableBytesView) { orderEvents.append((seq, event)) }
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

    /// Every campaign's creation, and the expiries of those whose cards expired.
    private func campaignEvents() async throws -> (campaigns: [LedgerEvent], expiries: [LedgerEvent]) {
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
        return (campaigns, expiries)
    }

    /// What a report of `campaign` reads: the campaigns, the campaign's cards, and every
    /// order's placement and ending (orders' other changes are left out). Rows come in pages of
    /// 8,192 along the `seq` indexes, each page one row of arrays (a row's own cost would
    /// dominate), read by `PostgresBinaryArray` straight into a `ReportBatch`. Cards and orders
    /// are read side by side, taking turns in the fold, and each one's next page is read and
    /// decoded while the fold takes in the last.
    public func foldReportEvents<State: Sendable>(
        campaign: String, into initial: State, _ fold: @escaping @Sendable (inout State, ReportBatch) -> Void
    ) async throws -> State {
        var state = initial
        let (campaigns, expiries) = try await campaignEvents()
        var definitions = ReportBatch(campaign: campaign)
        for event in campaigns + expiries { definitions.append(event) }
        fold(&state, definitions)
        var streams = [cardPage(campaign: campaign), orderPage(campaign: campaign)].map { page in
            (page: page, next: Task { try await page(0) })
        }
        while !streams.isEmpty {
            for index in streams.indices.reversed() {
                guard let (batch, last) = try await streams[index].next.value else {
                    streams.remove(at: index)
                    continue
                }
                let page = streams[index].page
                streams[index].next = Task { try await page(last) }
                fold(&state, batch)
            }
        }
        return state
    }

    /// Rows in a page of the report's reading.
    private static let reportPage = 8_192

    /// The campaign's cards after `seq`, as a batch, with the last seq; nil past the end.
    private func cardPage(campaign: String) -> @Sendable (Int64) async throws -> (ReportBatch, Int64)? {
        { [client, logger] after in
            let rows = try await client.query(
                """
                SELECT array_agg(owner), array_agg(ordinal), array_agg(kind), array_agg(value_fen), array_agg(issued_at_ms),
                    array_agg(coalesce(counterpart, '')), max(seq)
                FROM (SELECT * FROM cards WHERE seq > \(after) AND campaign = \(campaign) ORDER BY seq LIMIT \(Self.reportPage)) page
                """, logger: logger)
            for try await row in rows.decode((ByteBuffer?, ByteBuffer?, ByteBuffer?, ByteBuffer?, ByteBuffer?, ByteBuffer?, Int64?).self) {
                guard let ownerColumn = row.0, let ordinalColumn = row.1, let kindColumn = row.2, let valueColumn = row.3,
                    let issuedColumn = row.4, let counterpartColumn = row.5, let last = row.6
                else { return nil }
                var batch = ReportBatch(campaign: campaign)
                let owners = try PostgresBinaryArray.texts(ownerColumn) { batch.name($0) }
                let ordinals = try PostgresBinaryArray.int32s(ordinalColumn)
                let kinds = try PostgresBinaryArray.int16s(kindColumn)
                let values = try PostgresBinaryArray.int64s(valueColumn)
                let issued = try PostgresBinaryArray.int64s(issuedColumn)
                let counterparts = try PostgresBinaryArray.texts(counterpartColumn) { $0.isEmpty ? nil : batch.name($0) }
                guard [ordinals.count, kinds.count, values.count, issued.count, counterparts.count].allSatisfy({ $0 == owners.count })
                else { throw PostgresBinaryArray.Malformed() }
                for index in owners.indices {
                    batch.append(
                        .card(
                            ReportCard(
                                owner: owners[index], ordinal: ordinals[index], kind: CardKind(rawValue: UInt8(kinds[index])) ?? .welcome,
                                valueFen: values[index], issuedAtMs: issued[index], counterpart: counterparts[index])))
                }
                return (batch, last)
            }
            return nil
        }
    }

    /// Orders' placements and endings after `seq`, as a batch read for `campaign`, with the
    /// last seq; nil past the end.
    private func orderPage(campaign: String) -> @Sendable (Int64) async throws -> (ReportBatch, Int64)? {
        { [client, logger] after in
            let rows = try await client.query(Self.reportOrderPage(after: after), logger: logger)
            for try await (seqs, payloads, last) in rows.decode((ByteBuffer?, ByteBuffer?, Int64?).self) {
                guard let seqs, let payloads, let last else { return nil }
                let order = try PostgresBinaryArray.int64s(seqs)
                var batch = ReportBatch(campaign: campaign)
                // The aggregate takes the page's rows in the order the index gave them; should a plan
                // ever hand them over otherwise, they are put back in order (an ending after its placement).
                let records: Int
                if zip(order, order.dropFirst()).allSatisfy({ $0 < $1 }) {
                    records = try PostgresBinaryArray.byteas(payloads) { try JournalCodec.decodeReport($0, into: &batch) }.count
                } else {
                    let decoded = try PostgresBinaryArray.byteas(payloads) { payload in
                        var one = ReportBatch(campaign: campaign)
                        try JournalCodec.decodeReport(payload, into: &one)
                        return one
                    }
                    records = decoded.count
                    for (_, one) in zip(order, decoded).sorted(by: { $0.0 < $1.0 }) { batch.append(contentsOf: one) }
                }
                guard records == order.count else { throw PostgresBinaryArray.Malformed() }
                return (batch, last)
            }
            return nil
        }
    }

    /// The query of a page of orders' placements and endings after `seq`: its condition is the
    /// one the `order_events_read_by_report` index holds.
    static func reportOrderPage(after: Int64) -> PostgresQuery {
        """
        SELECT array_agg(seq), array_agg(payload), max(seq) FROM (
            SELECT seq, payload FROM order_events WHERE seq > \(after) AND kind IN ('placed', 'delivered', 'rejected', 'cancelled')
            ORDER BY seq LIMIT \(reportPage)) page
        """
    }

    /// Upserts one row of `node_state`, stamped with the time.
    public func saveState(_ value: [UInt8], key: String) async throws {
        try await client.query(
            """
            INSERT INTO node_state(key, value, saved_at_ms) VALUES (\(key), \(ByteBuffer(bytes: value)), \(Date().millisecondsSince1970))
            ON CONFLICT (key) DO UPDATE SET value = excluded.value, saved_at_ms = excluded.saved_at_ms
            """, logger: logger)
    }

    /// Deletes rows of `node_state` under `prefix` saved before `ms`.
    public func deleteState(prefix: String, savedBeforeMs ms: Int64) async throws -> Int {
        let rows = try await client.query(
            """
            WITH gone AS (DELETE FROM node_state WHERE left(key, \(Int32(prefix.count))) = \(prefix) AND saved_at_ms < \(ms) RETURNING 1)
            SELECT count(*)::int8 FROM gone
            """, logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }

    /// Rewrites the placement rows of orders that ended before `ms` with their address erased,
    /// a thousand orders a transaction.
    public func eraseAddresses(endedBeforeMs ms: Int64) async throws -> Int {
        var ended: [String] = []
        let endings = try await client.query(
            "SELECT payload FROM order_events WHERE kind IN ('delivered', 'rejected', 'cancelled')", logger: logger)
        for try await payload in endings.decode(ByteBuffer.self) {
            for case .orderChanged(let change) in try JournalCodec.decode(payload.readableBytesView) where change.atMs < ms {
                ended.append(change.orderID)
            }
        }
        var erased = 0
        for start in stride(from: 0, to: ended.count, by: 1_000) {
            let ids = Array(ended[start..<min(start + 1_000, ended.count)])
            erased += try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    "SELECT seq, payload FROM order_events WHERE kind = 'placed' AND order_id = ANY(\(ids)::text[]) FOR UPDATE",
                    logger: logger)
                var seqs: [Int64] = []
                var payloads: [ByteBuffer] = []
                for try await (seq, payload) in rows.decode((Int64, ByteBuffer).self) {
                    let events = try JournalCodec.decode(payload.readableBytesView)
                    guard events.contains(where: { if case .orderPlaced(let order) = $0 { !order.draft.address.isErased } else { false } })
                    else { continue }
                    seqs.append(seq)
                    payloads.append(
                        ByteBuffer(
                            bytes: JournalCodec.encode(
                                events.map { event in
                                    guard case .orderPlaced(var order) = event else { return event }
                                    order.draft.address = order.draft.address.erased
                                    return .orderPlaced(order)
                                })))
                }
                guard !seqs.isEmpty else { return 0 }
                try await connection.query(
                    """
                    UPDATE order_events SET payload = u.payload
                    FROM unnest(\(seqs)::int8[], \(payloads)::bytea[]) AS u(seq, payload) WHERE order_events.seq = u.seq
                    """, logger: logger)
                return seqs.count
            }
        }
        return erased
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

/// A card's key in the database.
struct CardKey: Hashable {
    var campaign: String
    var owner: String
    var ordinal: Int

    init(campaign: String, owner: String, ordinal: Int) {
        self.campaign = campaign
        self.owner = owner
        self.ordinal = ordinal
    }

    init(_ issue: CardIssue) { self.init(campaign: issue.campaign, owner: issue.owner, ordinal: issue.ordinal) }
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

    init(_ issues: [CardIssue]) {
        for issue in issues { append(issue) }
    }

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

import Foundation
import LanternAdmission
import LanternLedger
import Logging
import PostgresNIO

/// One node's lease on one campaign, as every node sees it in the database.
public struct LeaseStatus: Sendable, Equatable {
    /// The node holding it.
    public var node: String
    /// The campaign.
    public var campaign: String
    /// Budget the lease still holds.
    public var allowanceFen: Int64
    /// Cards issued under it since it was last settled.
    public var cards: Int64
    /// Value the node issued per second, as it last reported.
    public var claimRateFen: Int64
    /// Seconds until it lapses unless renewed.
    public var expiresInSeconds: Double
}

/// One order event another node (or this one) committed, by its place in the order feed.
public struct OrderFeedEntry: Sendable {
    /// Position in the feed; entries are read in this order.
    public var seq: Int64
    /// Whose order it is.
    public var user: String?
    /// The event: `orderPlaced` or `orderChanged`.
    public var event: LedgerEvent
}

/// What a node reads and writes in the database to share campaigns with other nodes: its
/// starting cache, users and orders by key, campaign snapshots, its budget leases, and the order feed.
extension PostgresLedgerStore {
    /// Starts a node without the history: the campaigns, this node's own lease allowances and
    /// the live orders it placed (it dispatches them). Time and memory do not grow with cards.
    public func loadBook() async throws -> LedgerBook {
        let snapshots = try await campaignSnapshots() ?? []
        var allowances: [String: Int64] = [:]
        let leases = try await client.query(
            "SELECT campaign, granted_fen - used_fen FROM budget_leases WHERE node = \(node)", logger: logger)
        for try await (campaign, unused) in leases.decode((String, Int64).self) { allowances[campaign] = unused }
        let orders = try await orders(
            placedWhere: """
                p.node = \(node) AND NOT EXISTS (SELECT 1 FROM order_events f WHERE f.order_id = p.order_id
                    AND f.kind IN ('delivered', 'rejected', 'cancelled'))
                """)
        return LedgerBook.cache(of: snapshots, allowances: allowances, orders: orders)
    }

    /// Every campaign with its accounting, leases included, and what of it this node's lease does not hold.
    public func campaignSnapshots() async throws -> [CampaignSnapshot]? {
        let rows = try await client.query(
            """
            SELECT c.id, c.name, c.budget_fen, c.card_value_fen, c.max_cards_per_user, c.starts_at, c.ends_at,
                c.cards_expire_at, c.cards_expired_at, c.remaining_fen, c.outstanding_fen, c.spent_fen, c.cards_issued,
                coalesce(sum(l.granted_fen - l.used_fen), 0)::int8, coalesce(sum(l.used_fen), 0)::int8,
                coalesce(sum(l.cards), 0)::int8,
                coalesce(sum(l.granted_fen - l.used_fen) FILTER (WHERE l.node = \(node)), 0)::int8
            FROM campaigns c LEFT JOIN budget_leases l ON l.campaign = c.id
            GROUP BY c.id ORDER BY c.seq
            """, logger: logger)
        var snapshots: [CampaignSnapshot] = []
        for try await row in rows {
            let (id, name, budget, value, cap, starts, ends, expire, expired, remaining, outstanding, spent, issued,
                leasedUnused, leasedUsed, leasedCards, own) = try row.decode(
                    (String, String, Int64, Int64, Int32, Date, Date, Date, Date?, Int64, Int64, Int64, Int64, Int64, Int64,
                        Int64, Int64).self)
            let campaign = Campaign(
                id: id, name: name, budgetFen: budget, cardValueFen: value, maxCardsPerUser: Int(cap), startsAt: starts,
                endsAt: ends, cardsExpireAt: expire)
            snapshots.append(
                CampaignSnapshot(
                    campaign: campaign, remainingFen: remaining + leasedUnused, outstandingFen: outstanding + leasedUsed,
                    spentFen: spent, cardsIssued: Int(issued + leasedCards), cardsExpiredAt: expired,
                    budgetElsewhereFen: remaining + leasedUnused - own))
        }
        return snapshots
    }

    /// A user's cards in the given campaigns and their orders.
    public func loadUser(_ user: String, campaigns: [String]) async throws -> UserRecords? {
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.cardColumns) FROM cards
            WHERE cards.campaign = ANY(\(campaigns)::text[]) AND cards.owner = \(user)
            """, logger: logger)
        let cards = try await Self.storedCards(rows)
        let orders = try await orders(placedWhere: "p.user_id = \(user)")
        return UserRecords(user: user, cards: cards, orders: orders)
    }

    /// The order with that id in its current state.
    public func loadOrder(_ id: String) async throws -> Order? {
        try await orders(placedWhere: "p.order_id = \(id)").first
    }

    /// Orders whose placement row `p` matches, each folded up to its latest change.
    private func orders(placedWhere condition: PostgresQuery) async throws -> [Order] {
        var query = PostgresQuery(
            unsafeSQL: """
                SELECT e.payload FROM order_events e WHERE e.order_id IN (
                    SELECT p.order_id FROM order_events p WHERE p.kind = 'placed' AND
                """)
        query.sql += " " + condition.sql + ") ORDER BY e.seq"
        query.binds = condition.binds
        let rows = try await client.query(query, logger: logger)
        var orders: [String: Order] = [:]
        var sequence: [String] = []
        for try await payload in rows.decode(ByteBuffer.self) {
            for event in try JournalCodec.decode(payload.readableBytesView) {
                switch event {
                case .orderPlaced(let order):
                    orders[order.id] = order
                    sequence.append(order.id)
                case .orderChanged(let change):
                    orders[change.orderID]?.state = change.state
                    orders[change.orderID]?.updatedAtMs = change.atMs
                    orders[change.orderID]?.settlement = change.settlement
                default:
                    break
                }
            }
        }
        return sequence.compactMap { orders[$0] }
    }

    // MARK: Budget leases

    /// Adds up to `wantFen` of the campaign's unleased budget to this node's lease and extends
    /// it for `ttl`. While other nodes hold live leases too, a node gets at most half of a fair
    /// share of what is left, so the last cards are not stranded on one node. Returns the value
    /// granted (0 when the campaign had none to give).
    public func extendLease(campaign: String, wantFen: Int64, ttl: Duration) async throws -> Int64 {
        try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT remaining_fen, card_value_fen, cards_expired_at IS NOT NULL FROM campaigns WHERE id = \(campaign)
                FOR NO KEY UPDATE
                """, logger: logger)
            var found: (remaining: Int64, value: Int64, expired: Bool)?
            for try await row in rows.decode((Int64, Int64, Bool).self) { found = row }
            guard let (remaining, value, expired) = found, !expired else { return 0 }
            let leaseRows = try await connection.query(
                """
                SELECT count(*)::int8 FROM budget_leases
                WHERE campaign = \(campaign) AND node <> \(node) AND expires_at > now() AND granted_fen > used_fen
                """, logger: logger)
            var others: Int64 = 0
            for try await count in leaseRows.decode(Int64.self) { others += count }
            // A lone node may take all that is left; among several, half of a fair share.
            let fairShare = others == 0 ? remaining : max(value, remaining / (2 * (others + 1)))
            var grant = min(wantFen, remaining, fairShare)
            grant -= grant % value
            let seconds = Double(ttl.components.seconds) + Double(ttl.components.attoseconds) / 1e18
            if grant > 0 {
                try await connection.query(
                    "UPDATE campaigns SET remaining_fen = remaining_fen - \(grant), leased_fen = leased_fen + \(grant) WHERE id = \(campaign)",
                    logger: logger)
            }
            try await connection.query(
                """
                INSERT INTO budget_leases (campaign, node, granted_fen, expires_at)
                VALUES (\(campaign), \(node), \(grant), now() + make_interval(secs => \(seconds)))
                ON CONFLICT (campaign, node) DO UPDATE SET granted_fen = budget_leases.granted_fen + excluded.granted_fen,
                    expires_at = excluded.expires_at
                """, logger: logger)
            return grant
        }
    }

    /// Gives `fen` of this node's unused lease back to the campaign.
    public func shrinkLease(campaign: String, byFen fen: Int64) async throws {
        guard fen > 0 else { return }
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT 1 FROM campaigns WHERE id = \(campaign) FOR NO KEY UPDATE", logger: logger)
            let rows = try await connection.query(
                """
                UPDATE budget_leases SET granted_fen = granted_fen - \(fen) WHERE campaign = \(campaign) AND node = \(node)
                RETURNING 1
                """, logger: logger)
            var shrunk = false
            for try await _ in rows { shrunk = true }
            guard shrunk else { return }
            try await connection.query(
                "UPDATE campaigns SET remaining_fen = remaining_fen + \(fen), leased_fen = leased_fen - \(fen) WHERE id = \(campaign)",
                logger: logger)
        }
    }

    /// Keeps this node's leases alive for another `ttl` and records its claim rates (lease rows only).
    public func renewLeases(ttl: Duration, claimRates: [String: Int64] = [:]) async throws {
        let seconds = Double(ttl.components.seconds) + Double(ttl.components.attoseconds) / 1e18
        let campaigns = Array(claimRates.keys)
        try await client.query(
            """
            UPDATE budget_leases SET expires_at = now() + make_interval(secs => \(seconds)),
                claim_rate_fen = coalesce((SELECT r.fen FROM unnest(\(campaigns)::text[], \(campaigns.map { claimRates[$0]! })::int8[])
                    AS r(campaign, fen) WHERE r.campaign = budget_leases.campaign), 0)
            WHERE node = \(node) AND campaign IN (
                -- by campaign, the order in which a batch's card inserts charge the same rows
                SELECT campaign FROM budget_leases WHERE node = \(node) ORDER BY campaign FOR UPDATE)
            """, logger: logger)
    }

    /// Every node's leases, for the operators' view of the nodes.
    public func leaseStatuses() async throws -> [LeaseStatus] {
        let rows = try await client.query(
            """
            SELECT node, campaign, granted_fen - used_fen, cards, claim_rate_fen,
                extract(epoch FROM expires_at - now())::float8
            FROM budget_leases ORDER BY node, campaign
            """, logger: logger)
        var statuses: [LeaseStatus] = []
        for try await (node, campaign, allowance, cards, rate, expires) in rows.decode(
            (String, String, Int64, Int64, Int64, Double).self)
        {
            statuses.append(
                LeaseStatus(
                    node: node, campaign: campaign, allowanceFen: allowance, cards: cards, claimRateFen: rate,
                    expiresInSeconds: expires))
        }
        return statuses
    }

    /// Settles the leases of nodes that stopped renewing them: their cards become outstanding
    /// and their unused value returns to the campaign. Returns how many leases were settled.
    @discardableResult
    public func reclaimExpiredLeases() async throws -> Int {
        let rows = try await client.query(
            "SELECT DISTINCT campaign FROM budget_leases WHERE expires_at < now()", logger: logger)
        var campaigns: [String] = []
        for try await campaign in rows.decode(String.self) { campaigns.append(campaign) }
        var settled = 0
        for campaign in campaigns {
            settled += try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT 1 FROM campaigns WHERE id = \(campaign) FOR NO KEY UPDATE", logger: logger)
                return try await settleLeases(campaign: campaign, where: "expires_at < now()", on: connection)
            }
        }
        return settled
    }

    /// Settles this node's leases at a graceful stop, once it issues no more cards.
    public func releaseLeases() async throws {
        let rows = try await client.query("SELECT campaign FROM budget_leases WHERE node = \(node)", logger: logger)
        var campaigns: [String] = []
        for try await campaign in rows.decode(String.self) { campaigns.append(campaign) }
        for campaign in campaigns {
            _ = try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT 1 FROM campaigns WHERE id = \(campaign) FOR NO KEY UPDATE", logger: logger)
                return try await settleLeases(campaign: campaign, where: "node = \(node)", on: connection)
            }
        }
    }

    /// Deletes the campaign's leases that match `condition` and moves their value onto the
    /// campaign row: cards they paid for to outstanding, the rest back to remaining. The caller
    /// holds the campaign row's lock (campaign row first, then leases: one order everywhere).
    @discardableResult
    func settleLeases(campaign: String, where condition: PostgresQuery, on connection: PostgresConnection) async throws
        -> Int
    {
        var query = PostgresQuery(
            unsafeSQL: "DELETE FROM budget_leases WHERE campaign = $\(condition.binds.count + 1) AND ")
        query.sql += condition.sql + " RETURNING granted_fen, used_fen, cards"
        query.binds = condition.binds
        query.binds.append(campaign)
        let rows = try await connection.query(query, logger: logger)
        var granted: Int64 = 0
        var used: Int64 = 0
        var cards: Int64 = 0
        var settled = 0
        for try await (g, u, n) in rows.decode((Int64, Int64, Int64).self) {
            granted += g
            used += u
            cards += n
            settled += 1
        }
        guard settled > 0 else { return 0 }
        try await connection.query(
            """
            UPDATE campaigns SET leased_fen = leased_fen - \(granted), outstanding_fen = outstanding_fen + \(used),
                remaining_fen = remaining_fen + \(granted - used), cards_issued = cards_issued + \(cards)
            WHERE id = \(campaign)
            """, logger: logger)
        return settled
    }

    // MARK: Waiting rooms

    /// Reserves `places` sequence numbers for this node's next arrivals, records the admission
    /// rate this node sustains, moves the campaign's frontier to now at the campaign-wide rate
    /// (unless `paused` or before `startsAt`, when it stands still; at the start the pre-queue is
    /// fixed), and returns the room with this node's new block. `seed` keys the pre-queue's
    /// order if the room is new.
    public func syncWaitingRoom(
        campaign: String, startsAt: Date, places: UInt64, rate: Double, paused: Bool, seed: UInt64
    ) async throws -> SharedRoomState {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO waiting_rooms (campaign, shuffle_seed) VALUES (\(campaign), \(Int64(bitPattern: seed)))
                ON CONFLICT DO NOTHING
                """, logger: logger)
            try await connection.query(
                """
                INSERT INTO waiting_room_nodes (campaign, node, rate, seen_at) VALUES (\(campaign), \(node), \(rate), now())
                ON CONFLICT (campaign, node) DO UPDATE SET rate = excluded.rate, seen_at = excluded.seen_at
                """, logger: logger)
            // SET reads the row as it was; RETURNING sees it as it is now. Each transaction's
            // now() is when it began, and two nodes' syncs may commit in the other order: the
            // frontier's clock only moves forward, so no stretch of time is counted twice.
            let rows = try await connection.query(
                """
                WITH nodes AS (
                    SELECT coalesce(sum(rate), 0) AS rate FROM waiting_room_nodes
                    WHERE campaign = \(campaign) AND seen_at > now() - interval '3 seconds'
                )
                UPDATE waiting_rooms w SET
                    pre_queue_size = CASE WHEN w.pre_queue_size IS NULL AND now() >= \(startsAt) THEN w.issued
                        ELSE w.pre_queue_size END,
                    admitted = CASE WHEN \(paused) OR now() < \(startsAt) THEN w.admitted ELSE greatest(
                        least(w.issued + greatest(1, coalesce(w.fixed_rate, nodes.rate)),
                            w.admitted + coalesce(w.fixed_rate, nodes.rate)
                                * extract(epoch FROM greatest(interval '0', now() - w.updated_at))),
                        least(w.admitted, w.issued)) END,
                    issued = w.issued + \(Int64(places)),
                    updated_at = greatest(w.updated_at, now())
                FROM nodes WHERE w.campaign = \(campaign)
                RETURNING w.issued - \(Int64(places)), w.issued, w.admitted, w.pre_queue_size, w.shuffle_seed,
                    coalesce(w.fixed_rate, nodes.rate), w.fixed_rate
                """, logger: logger)
            for try await (start, issued, admitted, preQueue, seed, rate, fixed) in rows.decode(
                (Int64, Int64, Double, Int64?, Int64, Double, Double?).self)
            {
                return SharedRoomState(
                    issued: UInt64(issued), admitted: admitted, preQueueSize: preQueue.map(UInt64.init),
                    shuffleSeed: UInt64(bitPattern: seed), rate: rate, fixedRate: fixed,
                    block: UInt64(start)..<UInt64(start) + places)
            }
            throw PostgresLedgerStoreError(message: "the waiting room of \(campaign) is missing")
        }
    }

    /// Fixes (or, with nil, frees) the campaign's admission rate for every node.
    public func setWaitingRoomRate(campaign: String, perSecond: Double?, seed: UInt64) async throws {
        try await client.query(
            """
            INSERT INTO waiting_rooms (campaign, shuffle_seed, fixed_rate) VALUES (\(campaign), \(Int64(bitPattern: seed)), \(perSecond))
            ON CONFLICT (campaign) DO UPDATE SET fixed_rate = excluded.fixed_rate
            """, logger: logger)
    }

    // MARK: Order feed

    /// The newest position in the order feed (where a node that starts now begins following).
    public func orderFeedPosition() async throws -> Int64 {
        let rows = try await client.query("SELECT coalesce(max(seq), 0)::int8 FROM order_events", logger: logger)
        for try await seq in rows.decode(Int64.self) { return seq }
        return 0
    }

    /// Order events after `position`, oldest first, at most `limit`.
    public func orderFeed(after position: Int64, limit: Int = 1_000) async throws -> [OrderFeedEntry] {
        let rows = try await client.query(
            "SELECT seq, user_id, payload FROM order_events WHERE seq > \(position) ORDER BY seq LIMIT \(Int64(limit))",
            logger: logger)
        var entries: [OrderFeedEntry] = []
        for try await (seq, user, payload) in rows.decode((Int64, String?, ByteBuffer).self) {
            for event in try JournalCodec.decode(payload.readableBytesView) {
                entries.append(OrderFeedEntry(seq: seq, user: user, event: event))
            }
        }
        return entries
    }
}

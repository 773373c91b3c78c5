import Foundation
import HTTPTypes
import Hummingbird
import LanternApp
import LanternLedger
import LanternOrders
import LanternStorage
import NIOCore
import ServiceLifecycle

/// What operators see: a snapshot of the whole system as JSON, the same once a second as
/// server-sent events, and the dashboard page that draws them.
struct OperatorController: Sendable {
    let engine: LedgerEngine
    let admission: AdmissionControl
    let directory: MerchantDirectory
    let board: MerchantBoard
    let dispatch: DispatchService?
    /// The node's share of a PostgreSQL database, when several nodes share it.
    var keeper: SharedLedgerKeeper? = nil
    let tokens: TokenAuthority
    let clock: @Sendable () -> Date
    /// What this node recorded over the last hour (by second) and week (by minute).
    var history: StatsHistory? = nil

    /// `GET /` (the dashboard), `GET /chat` (the customer page) and `GET /admin/stream` on the
    /// root router; `GET /v1/admin/stats` under `/v1`.
    func addRoutes(root: Router<LanternRequestContext>, v1: RouterGroup<LanternRequestContext>) {
        root.get { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: DashboardPage.html)))
        }
        root.get("chat") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: ChatPage.html)))
        }
        root.get("admin/stream", use: stream)
        v1.get("admin/stats") { _, context -> Response in
            _ = try context.require(.admin)
            return Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: try snapshot())))
        }
        v1.get("admin/history", use: historyPoints)
    }

    /// `GET /v1/admin/history?resolution=second|minute&since_ms=`: the points this node kept.
    @Sendable func historyPoints(_ request: Request, context: LanternRequestContext) async throws -> Response {
        _ = try context.require(.admin)
        let resolution = request.uri.queryParameters["resolution"].map(String.init) ?? "second"
        guard resolution == "second" || resolution == "minute" else {
            throw APIError(.badRequest, "invalid_parameter", "resolution must be second or minute")
        }
        let since = request.uri.queryParameters["since_ms"].flatMap { Int64(String($0)) } ?? 0
        var json = JSONWriter()
        json.beginObject()
        json.field("resolution", resolution)
        json.beginArray("points")
        for point in history?.points(minutes: resolution == "minute", sinceMs: since) ?? [] { point.write(into: &json) }
        json.endArray()
        json.endObject()
        return json.response(status: .ok)
    }

    /// What the history samples each second: budgets, waiting rooms, admission, riders.
    static func sample(engine: LedgerEngine, admission: AdmissionControl, dispatch: DispatchService?) throws -> StatsHistory.Sample {
        let activity = admission.activity()
        let accounts = try engine.read { $0.allAccounts }
        let riders = dispatch?.snapshot ?? (riders: 0, busy: 0, waiting: 0)
        return StatsHistory.Sample(
            campaigns: accounts.map { account in
                StatsHistory.CampaignPoint(
                    id: account.campaign.id, budgetFen: account.campaign.budgetFen, remainingFen: account.remainingFen,
                    outstandingFen: account.outstandingFen, spentFen: account.spentFen, cards: account.cardsIssued,
                    waiting: activity.waiting[account.campaign.id] ?? 0,
                    waitSeconds: Int((activity.waitSeconds[account.campaign.id] ?? 0).rounded(.up)))
            },
            admitted: activity.admitted, queued: activity.queued, rateLimited: activity.rateLimited, ridersBusy: riders.busy,
            ridersTotal: riders.riders)
    }

    /// What the history samples every tenth second: orders by state and the stores' load.
    static func load(engine: LedgerEngine, directory: MerchantDirectory, board: MerchantBoard) throws -> StatsHistory.Load {
        let (counts, backlogs) = try engine.read { book in
            (book.orderCounts, directory.stores.map { book.unmadeCups(atMerchant: $0.id) })
        }
        let byState = Dictionary(uniqueKeysWithValues: counts.filter { $0.value > 0 }.map { ($0.key.rawValue, $0.value) })
        let minutes = zip(directory.stores, backlogs).map { AutoPause.backlogMinutes($1, store: $0) }
        return StatsHistory.Load(
            ordersByState: byState, maxBacklogMinutes: Int((minutes.max() ?? 0).rounded()),
            pausedStores: directory.stores.filter { board.isPaused($0.id) || board.isAutoPaused($0.id) }.count)
    }

    /// Server-sent events, `event: stats` once a second. Browsers' EventSource cannot send an
    /// Authorization header, so the admin token comes as `?access_token=`.
    @Sendable func stream(_ request: Request, context: LanternRequestContext) async throws -> Response {
        guard let token = request.uri.queryParameters["access_token"] else { throw APIError.unauthorized() }
        let identity = try await tokens.verify(String(token))
        guard identity.role == .admin else { throw APIError.forbidden("the dashboard needs an admin token") }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                // Once a second until the client goes or the server shuts down gracefully.
                while !Task.isCancelled, !Task.isShuttingDownGracefully {
                    try await writer.write(ByteBuffer(string: "event: stats\ndata: " + (try snapshot()) + "\n\n"))
                    _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
                }
                try await writer.finish(nil)
            })
    }

    /// Everything the dashboard draws, as one JSON object.
    func snapshot() throws -> String {
        let activity = admission.activity()
        let nowMs = clock().millisecondsSince1970
        var json = JSONWriter()
        json.beginObject()
        json.field("at", Date(millisecondsSince1970: nowMs))
        // Only the counting happens under the ledger's lock, which every claim needs; the JSON is
        // written after it is released.
        let view = try engine.read { book in
            var byState: [String: Int] = [:]
            var drinks: [String: Int] = [:]
            for order in book.allOrders {
                byState[order.state.rawValue, default: 0] += 1
                for item in order.draft.items { drinks[item.line.drink, default: 0] += item.line.quantity }
            }
            let backlogs = directory.stores.prefix(2_000).map { book.unmadeCups(atMerchant: $0.id) }
            return (accounts: book.allAccounts, byState: byState, drinks: drinks, backlogs: backlogs)
        }
        json.beginArray("campaigns")
        for account in view.accounts {
            json.beginObject()
            json.field("id", account.campaign.id)
            json.field("budget_fen", account.campaign.budgetFen)
            json.field("card_value_fen", account.campaign.cardValueFen)
            json.field("remaining_fen", account.remainingFen)
            json.field("outstanding_fen", account.outstandingFen)
            json.field("spent_fen", account.spentFen)
            json.field("cards_issued", account.cardsIssued)
            json.field("waiting", activity.waiting[account.campaign.id] ?? 0)
            json.field("wait_s", Int((activity.waitSeconds[account.campaign.id] ?? 0).rounded(.up)))
            json.field("paused", admission.isPaused(account.campaign.id))
            json.endObject()
        }
        json.endArray()
        json.beginObject("orders")
        for state in OrderState.allCases { json.field(state.rawValue, view.byState[state.rawValue] ?? 0) }
        json.endObject()
        json.beginArray("top_drinks")
        for (drink, cups) in view.drinks.sorted(by: { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }).prefix(5) {
            json.beginObject()
            json.field("drink", drink)
            json.field("cups", cups)
            json.endObject()
        }
        json.endArray()
        json.beginArray("stores")
        for (store, backlog) in zip(directory.stores.prefix(2_000), view.backlogs) {
            json.beginObject()
            json.field("id", store.id)
            json.field("lat", store.location.lat)
            json.field("lng", store.location.lng)
            json.field("backlog_minutes", Int(AutoPause.backlogMinutes(backlog, store: store).rounded()))
            json.field("paused", board.isPaused(store.id) || board.isAutoPaused(store.id))
            json.endObject()
        }
        json.endArray()
        json.beginObject("admission")
        json.field("admitted", activity.admitted)
        json.field("queued", activity.queued)
        json.field("rate_limited", activity.rateLimited)
        json.field("limit", activity.limit)
        json.field("in_flight", activity.inFlight)
        json.endObject()
        let riders = dispatch?.snapshot ?? (riders: 0, busy: 0, waiting: 0)
        json.beginObject("riders")
        json.field("total", riders.riders)
        json.field("busy", riders.busy)
        json.field("orders_waiting", riders.waiting)
        json.endObject()
        if let keeper {
            json.field("node", keeper.node)
            json.beginArray("nodes")
            for lease in keeper.cluster {
                json.beginObject()
                json.field("node", lease.node)
                json.field("campaign", lease.campaign)
                json.field("allowance_fen", lease.allowanceFen)
                json.field("cards", lease.cards)
                json.field("claim_rate_fen", lease.claimRateFen)
                json.field("expires_in_s", lease.expiresInSeconds)
                json.endObject()
            }
            json.endArray()
        }
        json.endObject()
        return String(decoding: json.bytes, as: UTF8.self)
    }
}

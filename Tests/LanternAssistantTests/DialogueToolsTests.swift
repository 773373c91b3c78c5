import Foundation
import LanternCatalog
import LanternLedger
import LanternOrders
import Synchronization
import Testing

@testable import LanternAssistant

/// The tools as a small pure city: quotes are the order desk's own over the demo stores; the
/// user has no cards; placing is refused with the code a busy store answers, after the request
/// and key it was asked with are written down.
private final class DeskTools: OrderingTools {
    let directory = MerchantDirectory(stores: DemoCity.stores(count: 200, seed: 7))
    let nowMs: Int64 = 1_767_000_000_000
    private let asked = Mutex<(quotes: [OrderRequest], places: [(OrderRequest, String)])>(([], []))
    /// A refusal every quote answers with, when set.
    let quoteRefusal: ToolFailure?

    init(quoteRefusal: ToolFailure? = nil) { self.quoteRefusal = quoteRefusal }

    var quotes: [OrderRequest] { asked.withLock { $0.quotes } }
    var places: [(OrderRequest, String)] { asked.withLock { $0.places } }

    func findStores(near point: GeoPoint, query: String?, limit: Int) async throws(ToolFailure) -> [NearbyStore] {
        directory.nearby(point, radius: 5_000, limit: limit) { _ in true }.map {
            NearbyStore(store: $0.store, meters: $0.meters, backlogCups: 0, readyAtMs: nowMs)
        }
    }

    func menu(of merchantID: String) async throws(ToolFailure) -> (store: Store, entries: [MenuEntry]) {
        throw ToolFailure(code: "merchant_not_found", message: "not in this test")
    }

    func cards() async throws(ToolFailure) -> [Card] { [] }

    func claimCard(campaign: String?, referralCode: String?) async throws(ToolFailure) -> CardClaim {
        throw ToolFailure(code: "campaign_not_found", message: "no campaign is running")
    }

    func quote(_ request: OrderRequest) async throws(ToolFailure) -> Quote {
        asked.withLock { $0.quotes.append(request) }
        if let quoteRefusal { throw quoteRefusal }
        switch OrderDesk.route(request, in: directory, nowMs: nowMs, load: { _ in StoreLoad(backlogCups: 0, paused: false) }) {
        case .success(let priced): return Quote(priced: priced, cardID: request.cardID, discountFen: 0)
        case .failure(let problem): throw ToolFailure(code: problem.code, message: problem.message)
        }
    }

    func place(_ request: OrderRequest, idempotencyKey: String) async throws(ToolFailure) -> Order {
        asked.withLock { $0.places.append((request, idempotencyKey)) }
        throw ToolFailure(code: "store_busy", message: "the store can take it in about 12 minutes")
    }

    func order(_ id: String) async throws(ToolFailure) -> Order { throw ToolFailure(code: "order_not_found", message: id) }

    func cancel(_ id: String) async throws(ToolFailure) -> Order { throw ToolFailure(code: "order_not_found", message: id) }
}

struct DialogueToolsTests {
    private let here = (lat: DemoCity.centre.lat, lng: DemoCity.centre.lng)

    @Test("A sentence becomes one typed quote request with every option said, and the quote is read back priced")
    func aSentenceIsQuotedAsSaid() async throws {
        let tools = DeskTools()
        var session = AssistantSession(id: "s-1", user: "alice", nowMs: 0)
        let reply = await OfflineAssistant.respond(
            to: "两杯大杯珍珠奶茶，少糖去冰，送到人民广场", location: here, session: &session, tools: tools, nowMs: 1)
        let request = try #require(tools.quotes.last)
        #expect(request.items == [OrderLine(drink: "pearl milk tea", size: .large, sugar: 70, ice: IceLevel.none, quantity: 2)])
        #expect(request.address.text == "人民广场")
        let quote = try #require(reply.pendingOrder)
        #expect(reply.reply.contains(quote.priced.store.name))
        #expect(reply.reply.contains("实付 \(Money.text(quote.totalFen)) 元"))
        #expect(session.quotedRequest == request)
    }

    @Test("Confirming places exactly the quoted request, and a repeated yes sends the same idempotency key")
    func confirmationPlacesTheQuotedRequestOnce() async throws {
        let tools = DeskTools()
        var session = AssistantSession(id: "s-2", user: "alice", nowMs: 0)
        _ = await OfflineAssistant.respond(
            to: "a large taro milk tea, less ice, deliver to People's Square", location: here, session: &session, tools: tools, nowMs: 1)
        let quoted = try #require(session.quotedRequest)
        let refused = await OfflineAssistant.respond(to: "yes", location: here, session: &session, tools: tools, nowMs: 2)
        // The refusal is said in the customer's words, with the wait the store gave.
        #expect(refused.reply.contains("in about 12 minutes"))
        #expect(refused.order == nil)
        session.awaiting = .confirmation
        _ = await OfflineAssistant.respond(to: "yes", location: here, session: &session, tools: tools, nowMs: 3)
        #expect(tools.places.count == 2)
        #expect(tools.places.allSatisfy { $0.0 == quoted })
        #expect(Set(tools.places.map(\.1)).count == 1)
    }

    @Test("A refusal that does not depend on the address is said before asking where to deliver, in Chinese")
    func anAddressFreeRefusalIsToldFirst() async {
        let tools = DeskTools(quoteRefusal: ToolFailure(code: "stores_at_capacity", message: "every store is full; try in about 9 minutes"))
        var session = AssistantSession(id: "s-3", user: "alice", nowMs: 0)
        let reply = await OfflineAssistant.respond(to: "一杯珍珠奶茶", location: here, session: &session, tools: tools, nowMs: 1)
        #expect(reply.reply.contains("附近的店都满单了"))
        #expect(reply.reply.contains("大约 9 分钟后"))
        #expect(session.awaiting == .nothing)
    }
}

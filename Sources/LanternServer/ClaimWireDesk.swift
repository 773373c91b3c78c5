import HTTPTypes
import Hummingbird
import HummingbirdCore
import LanternWire
import Logging
import NIOCore

/// The claim wire path's view of the application: the same `ClaimDesk` the router's claim route
/// decides with, the token authority's check that does not suspend, and the route's metrics.
struct ClaimWireDesk: WireClaimDesk {
    /// The claim route's name in metrics, as the router names it.
    static let route = "/v1/campaigns/{id}/claims"

    let desk: ClaimDesk
    let tokens: TokenAuthority
    let metrics: LanternMetrics
    /// The instruments of answered (201) claims, looked up once.
    private let created: LanternMetrics.RouteInstruments

    /// The wire path's desk over the router's.
    init(desk: ClaimDesk, tokens: TokenAuthority, metrics: LanternMetrics) {
        self.desk = desk
        self.tokens = tokens
        self.metrics = metrics
        created = metrics.routeInstruments(route: Self.route, method: .post, status: 201)
    }

    func user(bearer token: Substring) -> String? {
        guard let identity = tokens.verifiedIdentity(token), identity.role == .user else { return nil }
        return identity.userID
    }

    func decide(_ claim: WireClaim, eventLoop: any EventLoop, done: @escaping @Sendable (WireAnswer) -> Void) {
        switch desk.prepare(
            user: claim.user, campaign: claim.campaign, address: claim.address, key: claim.idempotencyKey,
            ticket: claim.queueTicket, proof: claim.queueProof, body: claim.body)
        {
        case .answer(let answer):
            done(WireAnswer(answer))
        case .submit(let prepared):
            let started = ContinuousClock.now
            let desk = desk
            desk.engine.claim(prepared.request, eventLoop: eventLoop) { result in
                desk.finished(since: started)
                switch result {
                case .success(let (outcome, replayed)): done(WireAnswer(desk.answer(outcome, replayed: replayed, for: prepared)))
                case .failure(let error): done(WireAnswer(desk.answer(failure: error)))
                }
            }
        }
    }

    func answered(_ status: HTTPResponse.Status, after duration: Duration) {
        if status == .created {
            created.record(duration: duration)
        } else {
            metrics.recordRequest(route: Self.route, method: .post, status: status.code, duration: duration)
        }
    }
}

extension WireAnswer {
    /// The desk's answer as the wire path writes it.
    init(_ answer: ClaimAnswer) {
        self.init(status: answer.status, headers: answer.headers, body: answer.body)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with claims answered on the connection's event loop by `ClaimFastPath`, behind
    /// `ConnectionGuard`.
    static func http1WithClaimFastPath(
        desk: ClaimDesk, tokens: TokenAuthority, metrics: LanternMetrics, serverName: String, logger: Logger,
        census: ConnectionCensus
    ) -> HTTPServerBuilder {
        let wire = ClaimWireDesk(desk: desk, tokens: tokens, metrics: metrics)
        return HTTPServerBuilder { responder in
            GuardedChannel(
                inner: ClaimFastPathChannel(
                    responder: responder, desk: wire, serverName: serverName, maxBodyBytes: JSONBody.maxBodyBytes,
                    formatDate: { HTTPDate.format(secondsSince1970: $0) }, logger: logger),
                census: census)
        }
    }
}

import Foundation
import LanternLedger
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import Synchronization
import Tracing

/// The store could not commit, or is being recovered: answer 503 and let the client retry.
public struct LedgerUnavailable: Error, Sendable, CustomStringConvertible {
    /// Why.
    public var description: String
}

/// Decides ledger operations in memory and makes them durable with group commit.
///
/// Every operation runs against the in-memory `LedgerBook` under a lock, so it sees every
/// earlier decision at once. Its events join the pending batch; one committer task writes a
/// whole batch in one transaction while the next one fills, then answers every operation in
/// it. Nothing is acknowledged before its batch is durable. A failed commit answers its
/// batch (and the one filling behind it) with `LedgerUnavailable` and rebuilds the book from
/// the store, which is the truth whatever the failed commit did.
///
/// Over a database shared by several nodes the book is a bounded cache (`LedgerBook.cache`):
/// the store refuses a card another node issued first, and the engine answers that claim on
/// its own (a replay of the card its key made, or 409) while the rest of its batch commits.
public final class LedgerEngine: Service, Sendable {
    private struct Waiter {
        /// Where the waiting request's connection lives, if it said.
        let eventLoop: (any EventLoop)?
        let complete: @Sendable ((any Error)?) -> Void
        /// For a claim: what was asked, so that a card the store refused can be answered anew.
        var claim: ClaimRequest?
        /// Answers the claim with a revised outcome instead of `complete(nil)`.
        var revise: (@Sendable (ClaimRevision) -> Void)?
    }

    /// How the store's refusal changes a claim's answer.
    private enum ClaimRevision: Sendable {
        /// The welcome card stands; the referrer's bonus was refused.
        case withoutBonus
        /// The welcome card was refused: this is the answer instead.
        case outcome(ClaimOutcome, replayed: Bool)
    }

    private struct Batch {
        var id: UInt64
        var events: [LedgerEvent] = []
        var waiters: [Waiter] = []
        /// The earliest instant by which one of its waiters must be answered.
        var answerBy: ContinuousClock.Instant?
        var isEmpty: Bool { events.isEmpty && waiters.isEmpty }
    }

    private struct State {
        var book: LedgerBook
        var pending: Batch
        var inFlight: Batch?
        var durable: UInt64
        var available: Bool
        var draining = false
        var stopped = false
        var committerWake: UnsafeContinuation<Void, Never>?
        /// The waiters of a failed commit while the book is rebuilt, answered when it is (or at
        /// their deadline, if the store takes longer).
        var failed: (waiters: [Waiter], answerBy: ContinuousClock.Instant)?
    }

    private let store: any LedgerStore
    private let state: Mutex<State>
    private let clock: @Sendable () -> Date
    private let logger: Logger
    private let expiryInterval: Duration
    /// How long a request may wait on the store before it is answered 503 with Retry-After.
    public let answerDeadline: Duration
    private let commitTimer: Metrics.Timer
    private let batchOperations: Recorder
    private let commitFailures: Counter
    private let storeRefusals: Counter
    /// Asked to lease more budget when a claim finds this node's allowance short.
    private let leaseRequester = Mutex<(@Sendable (String) async -> Void)?>(nil)
    /// Set with the lease requester: a single node's claims do not take its lock.
    private let sharesBudget = Atomic<Bool>(false)

    /// Creates an engine over `store`; it answers `LedgerUnavailable` until `load()` has run.
    /// Commit latency, batch sizes and failed commits go to `metrics`.
    public init(
        store: any LedgerStore, logger: Logger, expiryInterval: Duration = .seconds(1),
        answerDeadline: Duration = .seconds(2), metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        clock: @escaping @Sendable () -> Date = Date.init
    ) {
        commitTimer = Metrics.Timer(label: "lantern_ledger_commit_seconds", factory: metrics)
        batchOperations = Recorder(label: "lantern_ledger_batch_operations", aggregate: true, factory: metrics)
        commitFailures = Counter(label: "lantern_ledger_commit_failures_total", factory: metrics)
        storeRefusals = Counter(label: "lantern_ledger_store_refused_cards_total", factory: metrics)
        self.store = store
        self.logger = logger
        self.clock = clock
        self.expiryInterval = expiryInterval
        self.answerDeadline = answerDeadline
        state = Mutex(State(book: LedgerBook(), pending: Batch(id: 1), durable: 0, available: false))
    }

    /// Builds the in-memory ledger from the store (the whole journal, or a shared database's
    /// campaigns and leases) and starts answering.
    public func load() async throws {
        let book = try await Self.rebuild(from: store)
        state.withLock { state in
            state.book = book
            state.available = true
        }
    }

    private static func rebuild(from store: any LedgerStore) async throws -> LedgerBook {
        try await withSpan("store.load_book") { _ in try await store.loadBook() }
    }

    /// Loads what the shared database holds for `user` into the cache, unless it is there (and
    /// holds `card`, when one is named: another node may have issued it since); call before
    /// deciding with a user's cards or orders. A whole book needs nothing.
    public func prepareUser(_ user: String, holding card: String? = nil) async throws {
        let campaigns: [String]? = try state.withLock { state in
            guard state.available else { throw LedgerUnavailable(description: "the ledger is recovering") }
            guard state.book.isCache else { return nil }
            if state.book.isLoaded(user), card.map({ id in state.book.cards(of: user).contains { $0.id == id } }) ?? true {
                return nil
            }
            return state.book.allAccounts.map(\.campaign.id)
        }
        guard let campaigns else { return }
        let records = try await unavailableOnError { try await self.store.loadUser(user, campaigns: campaigns) }
        guard let records else { return }
        state.withLock { $0.book.cache(records, refreshing: card != nil) }
    }

    /// `user`'s cards, oldest first within each campaign: from the shared database when there
    /// is one (another node may have issued or spent one a moment ago), else from the book.
    public func cards(of user: String) async throws -> [Card] {
        guard let records = try await records(of: user) else { return try read { $0.cards(of: user) } }
        return try read { book in
            book.allAccounts.flatMap { account in
                records.cards.filter { $0.issue.campaign == account.campaign.id }.sorted { $0.issue.ordinal < $1.issue.ordinal }
                    .map { $0.card(in: account.campaign) }
            }
        }
    }

    /// `user`'s orders, newest first: from the shared database when there is one, else from the book.
    public func orders(of user: String) async throws -> [Order] {
        guard let records = try await records(of: user) else { return try read { $0.orders(of: user) } }
        return records.orders.reversed()
    }

    /// What a shared database holds for `user`; nil when the book holds everything.
    private func records(of user: String) async throws -> UserRecords? {
        let campaigns: [String]? = try read { $0.isCache ? $0.allAccounts.map(\.campaign.id) : nil }
        guard let campaigns else { return nil }
        return try await unavailableOnError { try await self.store.loadUser(user, campaigns: campaigns) }
    }

    /// Loads the order with that id from the shared database into the cache, unless it is there.
    public func prepareOrder(_ id: String) async throws {
        let needed = try state.withLock { state in
            guard state.available else { throw LedgerUnavailable(description: "the ledger is recovering") }
            return state.book.isCache && state.book.order(id) == nil
        }
        guard needed, let order = try await unavailableOnError({ try await self.store.loadOrder(id) }) else { return }
        state.withLock { $0.book.cacheOrder(order) }
    }

    /// A store that fails to answer a read makes the ledger unavailable for this request (503).
    /// So does one that does not answer by the request's deadline (a stalled or vanished database).
    private func unavailableOnError<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let limit = answerBy() - .now
        let late = LedgerUnavailable(description: "the store did not answer within \(answerDeadline)")
        switch await Self.first(within: limit, orFail: late, body) {
        case .success(let value): return value
        case .failure(let error as LedgerUnavailable): throw error
        case .failure(let error): throw LedgerUnavailable(description: "the store did not answer: \(error)")
        }
    }

    /// The current request's deadline, or the whole answer deadline from now.
    private func answerBy() -> ContinuousClock.Instant {
        AnswerDeadline.instant ?? .now + answerDeadline
    }

    /// Re-reads the campaigns and their accounting from a shared database (campaigns created,
    /// extended or expired by other nodes, and every node's cards); a whole book needs nothing.
    public func refreshCampaigns() async throws {
        guard state.withLock({ $0.book.isCache }) else { return }
        guard let snapshots = try await unavailableOnError({ try await self.store.campaignSnapshots() }) else { return }
        _ = updateBook { book in for snapshot in snapshots { book.restore(snapshot) } }
    }

    /// Changes the cached book (the shared-ledger keeper's campaign snapshots, leases, feed).
    func updateBook<T>(_ body: (inout LedgerBook) -> T) -> T? {
        state.withLock { state in state.available ? body(&state.book) : nil }
    }

    /// Who to ask for budget when a claim finds this node's lease allowance short.
    func setLeaseRequester(_ requester: @escaping @Sendable (String) async -> Void) {
        leaseRequester.withLock { $0 = requester }
        sharesBudget.store(true, ordering: .releasing)
    }

    // MARK: Operations

    /// Decides a claim and returns its outcome once it is durable. `eventLoop`, the loop of the
    /// caller's connection, lets the committer wake all of one loop's callers with a single hop.
    public func claim(_ request: ClaimRequest, eventLoop: (any EventLoop)? = nil) async throws -> (
        outcome: ClaimOutcome, replayed: Bool
    ) {
        try await withUnsafeThrowingContinuation { continuation in
            claim(request, eventLoop: eventLoop) { continuation.resume(with: $0) }
        }
    }

    /// A claim's answer revised by the store's refusal of its card.
    private static func revising(_ value: (outcome: ClaimOutcome, replayed: Bool), _ revision: ClaimRevision) -> (
        outcome: ClaimOutcome, replayed: Bool
    ) {
        switch revision {
        case .withoutBonus:
            if case .issued(let card, _) = value.outcome { return (.issued(card, referralBonus: false), value.replayed) }
            return value
        case .outcome(let outcome, let replayed):
            return (outcome, replayed)
        }
    }

    /// What a claim comes to when the store refused its welcome card: the replay of the card
    /// its idempotency key made (on another node, or before this node forgot it), or a refusal.
    private static func outcome(of claim: ClaimRequest, refusedFor existing: StoredCard?, campaign: Campaign?) -> ClaimRevision {
        guard let existing, let campaign else { return .outcome(.refused(.campaignNotActive(claim.campaign)), replayed: false) }
        guard let key = existing.issue.claim, key.key == claim.claimKey.key else {
            return .outcome(.refused(.cardLimitReached), replayed: false)
        }
        guard key.digest == claim.claimKey.digest else { return .outcome(.refused(.idempotencyKeyReused), replayed: false) }
        return .outcome(.issued(existing.card(in: campaign), referralBonus: existing.issue.counterpart != nil), replayed: true)
    }

    /// A claim's decision against the book: its outcome, whether it replays an earlier one, and
    /// the batch it waits for.
    private static func deciding(_ request: ClaimRequest, now: Date) -> (
        inout LedgerBook, inout [LedgerEvent], UInt64
    ) -> ((outcome: ClaimOutcome, replayed: Bool), waitFor: UInt64) {
        { book, journal, batch in
            switch book.claim(request, now: now, batch: batch, appendingTo: &journal) {
            case .replay(let outcome, let recordedIn): return ((outcome, true), recordedIn)
            case .decided(let outcome): return ((outcome, false), batch)
            }
        }
    }

    /// Places an order, redeeming its card in the same commit; returns it once durable, and
    /// whether it is a replay of an earlier request with the same idempotency key.
    public func placeOrder(_ draft: OrderDraft, eventLoop: (any EventLoop)? = nil) async throws -> (
        result: Result<Order, LedgerError>, replayed: Bool
    ) {
        let now = clock()
        return try await perform(eventLoop: eventLoop) { book, journal, batch in
            switch book.placeOrder(draft, now: now, batch: batch, appendingTo: &journal) {
            case .replay(let order, let recordedIn): return ((.success(order), true), recordedIn)
            case .decided(let result):
                if case .success = result { return ((result, false), batch) }
                return ((result, false), 0)
            }
        }
    }

    /// Moves an order to `state` on behalf of `actor`; returns it once the change is durable.
    public func changeOrder(_ id: String, to state: OrderState, by actor: OrderActor, eventLoop: (any EventLoop)? = nil)
        async throws -> Result<Order, LedgerError>
    {
        let now = clock()
        return try await perform(eventLoop: eventLoop) { book, journal, batch in
            let before = journal.count
            let result = book.changeOrder(id, to: state, by: actor, now: now, appendingTo: &journal)
            // Asking for the state an order is already in writes nothing; its earlier change may
            // still be committing, so such an answer waits for the batch being filled too.
            return (result, journal.count > before || result.isSuccess ? batch : 0)
        }
    }

    /// Creates a campaign durably.
    public func createCampaign(_ campaign: Campaign) async throws -> Result<Campaign, LedgerError> {
        try await perform { book, journal, batch in
            switch book.createCampaign(campaign) {
            case .success(let events):
                journal.append(contentsOf: events)
                return (.success(campaign), batch)
            case .failure(let error):
                return (.failure(error), 0)
            }
        }
    }

    /// Extends a campaign's end or card expiry durably.
    public func extendCampaign(_ id: String, endsAt: Date?, cardsExpireAt: Date?) async throws -> Result<
        Campaign, LedgerError
    > {
        try await perform { book, journal, batch in
            switch book.extendCampaign(id, endsAt: endsAt, cardsExpireAt: cardsExpireAt) {
            case .success(let events):
                journal.append(contentsOf: events)
                return (.success(book.account(id)!.campaign), batch)
            case .failure(let error):
                return (.failure(error), 0)
            }
        }
    }

    /// Expires the cards of campaigns whose expiry has passed; returns how many campaigns expired.
    @discardableResult
    public func expireDue() async throws -> Int {
        let now = clock()
        return try await perform { book, journal, batch in
            let events = book.expireDue(now: now)
            journal.append(contentsOf: events)
            return (events.count, events.isEmpty ? 0 : batch)
        }
    }

    /// Erases the delivery addresses of orders that ended before `ms`, in the store and then
    /// in the book; returns how many the store erased.
    public func eraseAddresses(endedBeforeMs ms: Int64) async throws -> Int {
        let erased = try await store.eraseAddresses(endedBeforeMs: ms)
        state.withLock { _ = $0.book.eraseAddresses(endedBeforeMs: ms) }
        return erased
    }

    /// Reads the ledger under the lock (no durability wait: reads see decided state).
    public func read<T: Sendable>(_ body: (LedgerBook) -> T) throws -> T {
        try state.withLock { state in
            guard state.available else { throw LedgerUnavailable(description: "the ledger is recovering") }
            return body(state.book)
        }
    }

    /// Checks that the store answers.
    public func ping() async throws {
        let store = self.store
        try await unavailableOnError { try await store.ping() }
    }

    /// Decides a claim at once and calls `completion` with its outcome once it is durable (or
    /// with the error that kept it from being so). `completion` runs on `eventLoop` when the
    /// claim waits for a commit; an outcome that needs no commit is passed back before this returns.
    public func claim(
        _ request: ClaimRequest, eventLoop: (any EventLoop)?,
        completion: @escaping @Sendable (Result<(outcome: ClaimOutcome, replayed: Bool), any Error>) -> Void
    ) {
        guard sharesBudget.load(ordering: .acquiring) else {
            submit(
                eventLoop: eventLoop, claim: request, revising: Self.revising, deliver: completion,
                Self.deciding(request, now: clock()))
            return
        }
        // A node sharing the campaign meets the referrer before deciding their bonus, and gives
        // a claim refused for budget a second look (see `reconsider`), off the connection's loop.
        let needsReferrer = request.referralCode.map { referrer in
            state.withLock { $0.book.isCache && !$0.book.isLoaded(referrer) }
        } ?? false
        let answerBy = answerBy()
        guard !needsReferrer else {
            Task {
                let result = await withinDeadline(answerBy) {
                    try? await self.prepareUser(request.referralCode!)
                    return await self.reconsider(request, after: await self.decideClaim(request))
                }
                Self.run(on: eventLoop) { completion(result) }
            }
            return
        }
        submit(eventLoop: eventLoop, claim: request, revising: Self.revising, deliver: { result in
            guard Self.refusedForBudget(result) else { return completion(result) }
            Task {
                let result = await self.withinDeadline(answerBy) { await self.reconsider(request, after: result) }
                Self.run(on: eventLoop) { completion(result) }
            }
        }, Self.deciding(request, now: clock()))
    }

    /// A claim's second look bounded by the answer deadline: a store that does not answer (a
    /// lease or a user that cannot be read) makes it a 503 with Retry-After, never a hang.
    private func withinDeadline(
        _ answerBy: ContinuousClock.Instant, _ work: @escaping @Sendable () async -> ClaimResult
    ) async -> ClaimResult {
        let failure = LedgerUnavailable(description: "the store did not answer within \(answerDeadline)")
        let limited: @Sendable () async -> ClaimResult = { await AnswerDeadline.$instant.withValue(answerBy) { await work() } }
        switch await Self.first(within: answerBy - .now, orFail: failure, limited) {
        case .success(let result): return result
        case .failure(let error): return .failure(error)
        }
    }

    private typealias ClaimResult = Result<(outcome: ClaimOutcome, replayed: Bool), any Error>

    private static func refusedForBudget(_ result: ClaimResult) -> Bool {
        guard case .success((.refused(let refusal), _)) = result else { return false }
        return refusal == .budgetHeldElsewhere || refusal == .budgetExhausted
    }

    /// Decides a claim and waits for its answer.
    private func decideClaim(_ request: ClaimRequest) async -> ClaimResult {
        await withUnsafeContinuation { continuation in
            submit(
                eventLoop: nil, claim: request, revising: Self.revising, deliver: { continuation.resume(returning: $0) },
                Self.deciding(request, now: clock()))
        }
    }

    /// A claim refused for budget on a node sharing the campaign: when the node's lease is short
    /// it asks for more and decides again, up to four times while a burst outruns the grants.
    /// A refusal that stands may be a retry of a card another node issued, so the node meets the
    /// claimant once and decides again (a replay, or 409) before telling them to retry.
    private func reconsider(_ request: ClaimRequest, after first: ClaimResult) async -> ClaimResult {
        var result = first
        var metClaimant = false
        var extensions = 4
        while case .success((.refused(let refusal), _)) = result,
            refusal == .budgetHeldElsewhere || refusal == .budgetExhausted
        {
            // Budget first (a burst of new users needs only that), the claimant last: meeting them
            // turns a final refusal into the replay of a card another node issued.
            if refusal == .budgetHeldElsewhere, extensions > 0, let requester = leaseRequester.withLock({ $0 }) {
                extensions -= 1
                await requester(request.campaign)
            } else if !metClaimant, state.withLock({ !$0.book.isLoaded(request.user) }) {
                metClaimant = true
                do { try await prepareUser(request.user) } catch { return .failure(error) }
            } else {
                break
            }
            result = await decideClaim(request)
        }
        return result
    }

    /// Runs `decide` against the book under the lock; it appends its events to the pending
    /// batch's journal, and the result is returned once batch `waitFor` is durable (0: at once).
    private func perform<T: Sendable>(
        eventLoop: (any EventLoop)? = nil,
        _ decide: (inout LedgerBook, inout [LedgerEvent], _ pendingBatch: UInt64) -> (T, waitFor: UInt64)
    ) async throws -> T {
        // An unchecked continuation spares an allocation per operation. Each one is resumed
        // exactly once: `submit` delivers every outcome exactly once (at once, or from the one
        // waiter list it sits in; a committed, failed or overdue batch takes its waiters out of
        // the state as it answers).
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<T, any Error>) in
            submit(eventLoop: eventLoop, deliver: { continuation.resume(with: $0) }, decide)
        }
    }

    /// Decides under the lock and hands the result to `deliver` exactly once: at once when
    /// nothing needs to become durable, else when batch `waitFor` has committed or failed.
    private func submit<T: Sendable>(
        eventLoop: (any EventLoop)?, claim: ClaimRequest? = nil,
        revising: (@Sendable (T, ClaimRevision) -> T)? = nil, deliver: @escaping @Sendable (Result<T, any Error>) -> Void,
        _ decide: (inout LedgerBook, inout [LedgerEvent], _ pendingBatch: UInt64) -> (T, waitFor: UInt64)
    ) {
        let next: PerformStep<T> = state.withLock { state in
            guard state.available, !state.stopped else {
                return .fail(LedgerUnavailable(description: "the ledger is recovering or shutting down"))
            }
            let journaled = state.pending.events.count
            let (value, waitFor) = decide(&state.book, &state.pending.events, state.pending.id)
            let appended = state.pending.events.count > journaled
            if !appended && waitFor <= state.durable { return .now(value) }
            var waiter = Waiter(eventLoop: eventLoop) { error in
                if let error { deliver(.failure(error)) } else { deliver(.success(value)) }
            }
            if let claim, let revising, state.book.isCache {
                waiter.claim = claim
                waiter.revise = { revision in deliver(.success(revising(value, revision))) }
            }
            // Without a request deadline, the first waiter's default deadline is the batch's earliest.
            let requested = AnswerDeadline.instant
            if !appended, let inFlight = state.inFlight, waitFor == inFlight.id {
                if inFlight.waiters.isEmpty || requested != nil {
                    state.inFlight!.answerBy = Self.earlier(inFlight.answerBy, requested ?? .now + answerDeadline)
                }
                state.inFlight!.waiters.append(waiter)
                return .waiting(wake: nil)
            }
            if state.pending.waiters.isEmpty || requested != nil {
                state.pending.answerBy = Self.earlier(state.pending.answerBy, requested ?? .now + answerDeadline)
            }
            state.pending.waiters.append(waiter)
            let wake = state.committerWake
            state.committerWake = nil
            return .waiting(wake: wake)
        }
        switch next {
        case .now(let value): deliver(.success(value))
        case .fail(let error): deliver(.failure(error))
        case .waiting(let wake): wake?.resume()
        }
    }

    // MARK: Service

    /// Runs the committer and the expiry sweep until graceful shutdown or cancellation (the
    /// service group cancels its services when one of them fails, the server's port being taken,
    /// say), then commits what is pending and returns.
    public func run() async throws {
        await untilStopped {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.sweepExpiries() }
                group.addTask { await self.enforceDeadline() }
                await self.commitLoop()
                group.cancelAll()
            }
        } drain: {
            self.drain()
        }
    }

    /// Tells the committer to commit what is pending and stop.
    private func drain() {
        let wake = state.withLock { state in
            state.draining = true
            defer { state.committerWake = nil }
            return state.committerWake
        }
        wake?.resume()
    }

    /// A batch's deadline once a waiter due at `b` joins it.
    private static func earlier(_ a: ContinuousClock.Instant?, _ b: ContinuousClock.Instant) -> ContinuousClock.Instant {
        a.map { min($0, b) } ?? b
    }

    /// Answers waiters whose commit would outlast their deadline with `LedgerUnavailable` (a
    /// 503 with Retry-After): the store is too slow or down. A batch's waiters are answered
    /// together, up to one tick before the earliest deadline among them, so none is late. Their
    /// events stay in line and may still commit; a retry with the same idempotency key then
    /// replays the card.
    private func enforceDeadline() async {
        let tick = min(answerDeadline / 20, .milliseconds(50))
        while !Task.isCancelled {
            try? await Task.sleep(for: tick)
            let cutoff = ContinuousClock.now + tick
            let overdue = state.withLock { state -> [Waiter] in
                var overdue: [Waiter] = []
                if let answerBy = state.inFlight?.answerBy, answerBy <= cutoff {
                    overdue += state.inFlight!.waiters
                    state.inFlight!.waiters = []
                    state.inFlight!.answerBy = nil
                }
                if let answerBy = state.pending.answerBy, answerBy <= cutoff {
                    overdue += state.pending.waiters
                    state.pending.waiters = []
                    state.pending.answerBy = nil
                }
                if let failed = state.failed, failed.answerBy <= cutoff {
                    overdue += failed.waiters
                    state.failed = nil
                }
                return overdue
            }
            if !overdue.isEmpty {
                logger.warning("ledger commit overdue; answering waiters 503", metadata: ["waiters": "\(overdue.count)"])
                Self.complete(
                    overdue, with: LedgerUnavailable(description: "the store did not commit within \(answerDeadline)"))
            }
        }
    }

    private func sweepExpiries() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: expiryInterval)
            if Task.isCancelled { return }
            // A store outage is retried on the next tick; the committer logs it.
            _ = try? await expireDue()
        }
    }

    private func commitLoop() async {
        while let batch = await nextBatch() {
            do {
                var report = CommitReport()
                if !batch.events.isEmpty {
                    let started = ContinuousClock.now
                    report = try await withSpan("ledger.commit") { span in
                        span.attributes["lantern.batch.operations"] = batch.waiters.count
                        span.attributes["lantern.batch.events"] = batch.events.count
                        return try await commit(batch.events)
                    }
                    commitTimer.record(duration: ContinuousClock.now - started)
                    batchOperations.record(batch.waiters.count)
                }
                let (waiters, revised) = state.withLock { state in
                    state.durable = batch.id
                    defer { state.inFlight = nil }
                    return Self.applying(report, to: &state.book, waiters: state.inFlight?.waiters ?? [])
                }
                if !report.refused.isEmpty { storeRefusals.increment(by: report.refused.count) }
                Self.complete(waiters, with: nil)
                for (waiter, revision) in revised { Self.run(on: waiter.eventLoop) { waiter.revise!(revision) } }
            } catch {
                commitFailures.increment()
                logger.error("ledger commit failed; rebuilding from the store", metadata: ["error": "\(error)"])
                state.withLock { state in
                    state.available = false
                    let waiters = (state.inFlight?.waiters ?? batch.waiters) + state.pending.waiters
                    let answerBy = [state.inFlight?.answerBy, state.pending.answerBy].compactMap { $0 }.min()
                    state.failed = (waiters, answerBy ?? .now)
                    state.inFlight = nil
                    state.pending = Batch(id: state.pending.id + 1)
                }
                // One rebuild before answering, so a client retrying at once finds the ledger back;
                // if the store is still down, answer anyway (at the waiters' deadline, if it
                // comes first) and keep trying.
                let rebuilt = await rebuild(within: answerDeadline * 2)
                let failed = state.withLock { state in
                    defer { state.failed = nil }
                    return state.failed?.waiters ?? []
                }
                let unavailable = LedgerUnavailable(description: "the ledger could not commit: \(error)")
                Self.complete(failed, with: unavailable)
                if !rebuilt { await recover() }
            }
        }
    }

    /// The store could not say whether a commit landed within the time it was given.
    struct CommitAbandoned: Error, CustomStringConvertible {
        var description: String
    }

    /// Commits a batch. Over a shared database, which refuses what it must whatever a node
    /// believes, a commit that has not answered within two answer deadlines (a connection that
    /// died with the database, say) is given up and counts as failed, so the node reloads and
    /// serves again once the database is back; the abandoned commit may still land, and a
    /// same-key retry then replays it. A whole book (SQLite) always waits for its store.
    private func commit(_ events: [LedgerEvent]) async throws -> CommitReport {
        guard state.withLock({ $0.book.isCache }) else { return try await store.commit(events) }
        let store = self.store
        let limit = answerDeadline * 2
        return try await Self.first(within: limit, orFail: CommitAbandoned(description: "the store did not answer a commit within \(limit)")) {
            try await store.commit(events)
        }.get()
    }

    /// The result of `work`, or `failure` once `limit` has passed: then `work` is cancelled and
    /// not waited for (a call into a store whose connection died may never return).
    static func first<T: Sendable>(
        within limit: Duration, orFail failure: any Error, _ work: @escaping @Sendable () async throws -> T
    ) async -> Result<T, any Error> {
        let race = Race()
        return await withUnsafeContinuation { (continuation: UnsafeContinuation<Result<T, any Error>, Never>) in
            // The timer ends as soon as the work answers: a commit a second should not leave a
            // sleeping task behind each.
            let timer = Task {
                try? await Task.sleep(for: limit)
                guard race.claim() else { return }
                race.cancelWork()
                continuation.resume(returning: .failure(failure))
            }
            race.start {
                let result: Result<T, any Error>
                do { result = .success(try await work()) } catch { result = .failure(error) }
                if race.claim() {
                    timer.cancel()
                    continuation.resume(returning: result)
                }
            }
        }
    }

    /// Undoes the cards the store refused and sorts the batch's waiters into those whose answer
    /// stands and the claims whose answer the refusal changed.
    private static func applying(_ report: CommitReport, to book: inout LedgerBook, waiters: [Waiter]) -> (
        [Waiter], [(Waiter, ClaimRevision)]
    ) {
        guard !report.refused.isEmpty else { return (waiters, []) }
        struct Claimant: Hashable {
            var campaign: String
            var user: String
        }
        var welcomeRefused: [Claimant: RefusedCard] = [:]
        var bonusRefused = Set<Claimant>()
        for refusal in report.refused {
            book.revert(refusal.issue)
            if refusal.issue.ordinal == 0 {
                welcomeRefused[Claimant(campaign: refusal.issue.campaign, user: refusal.issue.owner)] = refusal
            } else if let referee = refusal.issue.counterpart {
                bonusRefused.insert(Claimant(campaign: refusal.issue.campaign, user: referee))
            }
        }
        var standing: [Waiter] = []
        var revised: [(Waiter, ClaimRevision)] = []
        for waiter in waiters {
            guard let claim = waiter.claim, waiter.revise != nil else {
                standing.append(waiter)
                continue
            }
            let claimant = Claimant(campaign: claim.campaign, user: claim.user)
            if let refusal = welcomeRefused[claimant] {
                let campaign = book.account(claim.campaign)?.campaign
                revised.append((waiter, outcome(of: claim, refusedFor: refusal.existing, campaign: campaign)))
            } else if bonusRefused.contains(claimant) {
                revised.append((waiter, .withoutBonus))
            } else {
                standing.append(waiter)
            }
        }
        return (standing, revised)
    }

    /// Runs `body` on `loop` when there is one, else here.
    private static func run(on loop: (any EventLoop)?, _ body: @escaping @Sendable () -> Void) {
        if let loop { loop.execute(body) } else { body() }
    }

    /// Answers waiters, one hop per event loop: each loop wakes once and resumes all of its
    /// callers itself, instead of being woken once per caller from this thread.
    private static func complete(_ waiters: [Waiter], with error: (any Error)?) {
        var byLoop: [ObjectIdentifier: (loop: any EventLoop, waiters: [Waiter])] = [:]
        for waiter in waiters {
            guard let loop = waiter.eventLoop else {
                waiter.complete(error)
                continue
            }
            byLoop[ObjectIdentifier(loop), default: (loop, [])].waiters.append(waiter)
        }
        for (loop, group) in byLoop.values {
            loop.execute { for waiter in group { waiter.complete(error) } }
        }
    }

    /// Waits until there is a batch to commit; nil once draining with nothing left.
    private func nextBatch() async -> Batch? {
        while true {
            enum Step {
                case commit(Batch)
                case stop
                case wait
            }
            let step: Step = state.withLock { state in
                if !state.pending.isEmpty {
                    let batch = state.pending
                    state.inFlight = batch
                    state.pending = Batch(id: batch.id + 1)
                    return .commit(batch)
                }
                if state.draining {
                    state.stopped = true
                    return .stop
                }
                return .wait
            }
            switch step {
            case .commit(let batch): return batch
            case .stop: return nil
            case .wait:
                await withUnsafeContinuation { (wake: UnsafeContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state in
                        if !state.pending.isEmpty || state.draining { return true }
                        state.committerWake = wake
                        return false
                    }
                    if resumeNow { wake.resume() }
                }
            }
        }
    }

    /// Reloads the book from the store until that succeeds or the engine is draining.
    private func recover() async {
        var delay = Duration.milliseconds(100)
        var limit = answerDeadline * 2
        while await !rebuild(within: limit) {
            if state.withLock({ $0.draining }) { return }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(1))
            // A load that keeps running out of time may just be large: give it longer each time.
            limit = min(limit * 2, answerDeadline * 30)
        }
    }

    /// Replaces the book with one rebuilt from the store; false if the store did not answer.
    /// A shared database's rebuild (campaigns, leases, the node's live orders) is small, so one
    /// that has not answered within `limit` (a connection that hangs after the database stalled)
    /// is given up and tried again on another connection; a whole journal (SQLite) takes as long
    /// as it takes.
    private func rebuild(within limit: Duration) async -> Bool {
        do {
            let store = self.store
            let book =
                state.withLock({ $0.book.isCache })
                ? try await Self.first(within: limit, orFail: CommitAbandoned(description: "the store did not load within \(limit)")) {
                    try await Self.rebuild(from: store)
                }.get()
                : try await Self.rebuild(from: store)
            state.withLock { state in
                state.book = book
                state.durable = state.pending.id - 1
                state.available = true
            }
            logger.notice("ledger rebuilt from the store")
            return true
        } catch {
            logger.error("ledger rebuild failed", metadata: ["error": "\(error)"])
            return false
        }
    }
}

/// A piece of work racing a timer: exactly one of them answers, and the timer can cancel the work.
private final class Race: Sendable {
    private let answered = Atomic<Bool>(false)
    private let work = Mutex<Task<Void, Never>?>(nil)

    /// True for the first caller only.
    func claim() -> Bool { !answered.exchange(true, ordering: .acquiringAndReleasing) }

    /// Starts the work.
    func start(_ body: @escaping @Sendable () async -> Void) {
        work.withLock { $0 = Task(operation: body) }
    }

    /// Cancels the work, if it started.
    func cancelWork() {
        work.withLock { $0?.cancel() }
    }
}

extension Result {
    fileprivate var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}

/// What `perform` does after deciding under the lock.
private enum PerformStep<T> {
    case now(T)
    case fail(any Error)
    case waiting(wake: UnsafeContinuation<Void, Never>?)
}

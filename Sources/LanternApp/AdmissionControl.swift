import Foundation
import LanternAdmission
import LanternLedger
import Synchronization

/// How requests are let in.
public struct AdmissionConfiguration: Sendable {
    /// Off: every claim goes straight to the ledger (for comparison runs).
    public var enabled: Bool
    /// Requests a user may make per second, sustained.
    public var userRatePerSecond: Double
    /// Requests a user may make at once after being idle.
    public var userBurst: Double
    /// Requests one client address may make per second, sustained.
    public var addressRatePerSecond: Double
    /// Requests one client address may make at once.
    public var addressBurst: Double
    /// How long an admission from the waiting room stays usable.
    public var admissionValiditySeconds: Double
    /// Secret for queue tickets (the JWT secret by default).
    public var ticketSecret: String
    /// How long a holder in line may go without asking about their ticket before the frontier
    /// passes over their place (nil: places are kept). Answers tell holders to ask well within it.
    public var presenceWindowSeconds: Double?

    /// Defaults suited to one node serving a flash crowd.
    public init(
        enabled: Bool = true, userRatePerSecond: Double = 5, userBurst: Double = 20,
        addressRatePerSecond: Double = 2_000, addressBurst: Double = 4_000, admissionValiditySeconds: Double = 120,
        ticketSecret: String, presenceWindowSeconds: Double? = 90
    ) {
        self.presenceWindowSeconds = presenceWindowSeconds
        self.enabled = enabled
        self.userRatePerSecond = userRatePerSecond
        self.userBurst = userBurst
        self.addressRatePerSecond = addressRatePerSecond
        self.addressBurst = addressBurst
        self.admissionValiditySeconds = admissionValiditySeconds
        self.ticketSecret = ticketSecret
    }
}

/// What admission says of a claim.
public enum AdmissionVerdict: Sendable {
    /// Go ahead; call `finished(latency:)` afterwards.
    case proceed
    /// Wait in line.
    case queued(QueuePlace)
}

/// Front door for the expensive routes: per-user and per-address token buckets, the adaptive
/// concurrency limit, and each campaign's waiting room. One lock around small state.
public final class AdmissionControl: Sendable {
    private struct State {
        var limiter = AdaptiveConcurrencyLimit()
        var users: HotKeyLimiter
        var addresses: HotKeyLimiter
        var rooms: [String: WaitingRoom] = [:]
        var fixedRates: [String: Double] = [:]
        /// Campaigns an operator paused: no claims, and their waiting rooms stand still.
        var paused: Set<String> = []
        /// Counters restored at start, for rooms not opened since.
        var restored: [String: WaitingRoomCounters] = [:]
        /// Proof of work asked of new tickets, by campaign (`QueuePuzzle` bits).
        var proofBits: [String: Int] = [:]
        /// Rooms are shared by several nodes: they keep no presence.
        var shared = false
        /// The saved state has been taken back (or there was none): until then, this node's
        /// state is the empty one it started with, and saving it would overwrite what was saved.
        var hasRestored = false
    }

    /// The configuration in force.
    public let configuration: AdmissionConfiguration
    private let state: Mutex<State>
    private let admittedCount = Atomic<Int>(0)
    private let queuedCount = Atomic<Int>(0)
    private let limitedCount = Atomic<Int>(0)
    /// How many campaigns are paused, so the claim path skips the lock while none is.
    private let pausedCount = Atomic<Int>(0)
    private let signer: QueueTicketSigner
    private let clock: @Sendable () -> Date
    /// Saves of the paused set, one at a time (see `AdmissionPersistence.setPaused`).
    let pauseSaves = SerialSaves()
    /// Where an operator's fixed rate is saved for every node, when the rooms are shared.
    private let sharedRateStore = Mutex<(@Sendable (String, Double?) async throws -> Void)?>(nil)

    /// Creates admission control.
    public init(_ configuration: AdmissionConfiguration, clock: @escaping @Sendable () -> Date = Date.init) {
        self.configuration = configuration
        self.clock = clock
        signer = QueueTicketSigner(secret: configuration.ticketSecret)
        state = Mutex(
            State(
                users: HotKeyLimiter(
                    ratePerSecond: configuration.userRatePerSecond, burst: configuration.userBurst, capacity: 1 << 18),
                addresses: HotKeyLimiter(
                    ratePerSecond: configuration.addressRatePerSecond, burst: configuration.addressBurst,
                    capacity: 1 << 14)))
    }

    /// Spends a token of the user's and the address's buckets; refuses when either is empty.
    /// Loopback clients (a proxy or simulator on this machine) have no address bucket: every
    /// user behind them would share it.
    package func checkRate(user: String, address: String?) throws(AdmissionRefusal) {
        guard configuration.enabled else { return }
        let now = clock().timeIntervalSince1970
        let decision = state.withLock { state in
            let byUser = state.users.allow(user, now: now)
            guard case .allowed = byUser, let address, !Self.isLoopback(address) else { return byUser }
            return state.addresses.allow(address, now: now)
        }
        if case .limited(let wait) = decision {
            limitedCount.wrappingAdd(1, ordering: .relaxed)
            throw .rateLimited(retryAfterSeconds: max(1, Int(wait.rounded(.up))))
        }
    }

    package static func isLoopback(_ address: String) -> Bool {
        address.hasPrefix("127.") || address == "::1" || address.hasPrefix("::ffff:127.")
    }

    /// Decides whether a claim may go to the ledger now. `ticketText` is the `Queue-Ticket`
    /// header and `proof` the `Queue-Proof` header, the puzzle's solution when it has one.
    /// A paused campaign refuses every claim, whichever way it comes (API, assistant, MCP).
    public func admit(campaign: Campaign, user: String, ticketText: String?, proof: String? = nil) throws(AdmissionRefusal)
        -> AdmissionVerdict
    {
        if isPaused(campaign.id) {
            throw .campaignPaused
        }
        guard configuration.enabled else { return .proceed }
        let now = clock()
        let nowSeconds = now.timeIntervalSince1970
        let presented = try ticketText.map { text throws(AdmissionRefusal) in
            try verifiedTicket(text, user: user, campaign: campaign, now: now, proof: proof)
        }
        return state.withLock { state -> AdmissionVerdict in
            var room = currentRoom(for: campaign, now: nowSeconds, state: &state)
            defer { state.rooms[campaign.id] = room }
            if let ticket = presented {
                room.sawHolder(sequence: ticket.sequence, preQueue: ticket.preQueue, now: nowSeconds)
                switch room.status(sequence: ticket.sequence, preQueue: ticket.preQueue, now: nowSeconds, presentedWithClaim: true) {
                case .admitted:
                    state.limiter.forceAcquire()
                    return .proceed
                case .lapsed:
                    return self.enqueue(&room, campaign: campaign.id, user: user, now: now, state: state)
                case .skipped:
                    return self.enqueue(&room, campaign: campaign.id, user: user, now: now, state: state, rejoined: true)
                default:
                    // Still waiting: the answer says where, as `/v1/queue/{ticket}` would.
                    let status = room.status(sequence: ticket.sequence, preQueue: ticket.preQueue, now: nowSeconds)
                    return .queued(
                        QueuePlace(
                            ticket: ticketText!, status: status, proofBits: ticket.proofBits,
                            presenceWindow: room.presenceWindow))
                }
            }
            let started = room.counters.preQueueSize != nil
            if started && room.waitingCount == 0 && room.fixedRate == nil && state.limiter.tryAcquire() {
                return .proceed
            }
            if started && room.fixedRate != nil && room.hasRoom {
                _ = room.enqueue()
                state.limiter.forceAcquire()
                return .proceed
            }
            return self.enqueue(&room, campaign: campaign.id, user: user, now: now, state: state)
        }
    }

    /// The campaign's room (opened, or restored, on first use) with its rate brought up to date
    /// and its frontier advanced to `now`. It is taken out of `state`, so that changing it does
    /// not copy the line it holds; the caller puts it back.
    private func currentRoom(for campaign: Campaign, now: Double, state: inout State) -> WaitingRoom {
        var room =
            state.rooms.removeValue(forKey: campaign.id)
            ?? WaitingRoom(
                counters: state.restored.removeValue(forKey: campaign.id)
                    ?? WaitingRoomCounters(shuffleSeed: UInt64.random(in: 0...UInt64.max)),
                startsAt: campaign.startsAt.timeIntervalSince1970, now: now,
                admissionValidity: configuration.admissionValiditySeconds,
                presenceWindow: state.shared ? nil : configuration.presenceWindowSeconds)
        room.fixedRate = state.fixedRates[campaign.id]
        room.paused = state.paused.contains(campaign.id)
        if let rate = state.limiter.sustainableRate { room.adaptiveRate = max(10, rate * 0.9) }
        room.advance(to: now)
        return room
    }

    /// Checks a presented ticket and its puzzle's solution.
    private func verifiedTicket(_ text: String, user: String, campaign: Campaign, now: Date, proof: String?)
        throws(AdmissionRefusal) -> QueueTicket
    {
        let ticket: QueueTicket
        do {
            ticket = try signer.verify(text, user: user, campaign: campaign.id, nowMs: now.millisecondsSince1970)
        } catch .notYours {
            throw .ticketNotYours
        } catch .expired {
            throw .ticketExpired
        } catch {
            throw .invalidTicket
        }
        guard ticket.proofBits > 0 else { return ticket }
        guard let proof else { throw .proofRequired }
        guard QueuePuzzle.isSolved(ticket: text, nonce: proof, bits: ticket.proofBits) else { throw .proofInvalid }
        return ticket
    }

    private func enqueue(
        _ room: inout WaitingRoom, campaign: String, user: String, now: Date, state: State, rejoined: Bool = false
    ) -> AdmissionVerdict {
        queuedCount.wrappingAdd(1, ordering: .relaxed)
        let place = room.enqueue()
        let bits = state.proofBits[campaign] ?? 0
        let ticket = QueueTicket(
            campaign: campaign, user: user, sequence: place.sequence, issuedAtMs: now.millisecondsSince1970,
            preQueue: place.preQueue, proofBits: bits)
        let status = room.status(sequence: place.sequence, preQueue: place.preQueue, now: now.timeIntervalSince1970)
        return .queued(
            QueuePlace(
                ticket: signer.sign(ticket), status: status, proofBits: bits, rejoined: rejoined,
                presenceWindow: room.presenceWindow))
    }

    /// Gives back the concurrency slot a `.proceed` took, with the latency the claim saw.
    package func finished(latency: Double) {
        admittedCount.wrappingAdd(1, ordering: .relaxed)
        guard configuration.enabled else { return }
        state.withLock { $0.limiter.release(latency: latency) }
    }

    /// Where a presented ticket stands now; asking counts as being there.
    package func status(ticketText: String, user: String, campaign: Campaign, proof: String?) throws(AdmissionRefusal) -> QueuePlace {
        let now = clock()
        let seconds = now.timeIntervalSince1970
        let ticket = try verifiedTicket(ticketText, user: user, campaign: campaign, now: now, proof: proof)
        return state.withLock { state in
            var room = currentRoom(for: campaign, now: seconds, state: &state)
            room.sawHolder(sequence: ticket.sequence, preQueue: ticket.preQueue, now: seconds)
            state.rooms[campaign.id] = room
            return QueuePlace(
                ticket: ticketText, status: room.status(sequence: ticket.sequence, preQueue: ticket.preQueue, now: seconds),
                proofBits: ticket.proofBits, presenceWindow: room.presenceWindow)
        }
    }

    /// Sets the proof of work new tickets of a campaign ask for (0: none); tickets already
    /// handed out keep theirs.
    package func setProofBits(_ bits: Int, campaign: String) {
        state.withLock { $0.proofBits[campaign] = bits > 0 ? bits : nil }
    }

    /// The proof of work every campaign's new tickets ask for, by campaign (none left out).
    package func proofBits() -> [String: Int] {
        state.withLock { $0.proofBits }
    }

    /// Reads the campaign a ticket names without trusting it (the signature is checked later).
    package static func campaign(ofTicket text: String) -> String? {
        guard let payload = text.split(separator: ".").first,
            let bytes = Base64URL.decode(Array(payload.utf8)[...])
        else { return nil }
        let fields = String(decoding: bytes, as: UTF8.self).split(separator: "|", omittingEmptySubsequences: false)
        return fields.count == 6 || fields.count == 7 ? String(fields[1]) : nil
    }

    /// What admission has done so far, for operators.
    public struct Activity: Sendable {
        /// Claims that went through to the ledger.
        public var admitted: Int
        /// Claims sent to a waiting room.
        public var queued: Int
        /// Requests answered 429.
        public var rateLimited: Int
        /// The adaptive concurrency limit now.
        public var limit: Double
        /// Claims in flight now.
        public var inFlight: Int
        /// Tickets not yet admitted whose holders are still asking, by campaign.
        public var waiting: [String: Int]
        /// Seconds a newcomer would wait now (the line ahead at the current admission rate), by campaign.
        public var waitSeconds: [String: Double]
    }

    /// Counters, the limiter and waiting-room depths now.
    public func activity() -> Activity {
        state.withLock { state in
            Activity(
                admitted: admittedCount.load(ordering: .relaxed), queued: queuedCount.load(ordering: .relaxed),
                rateLimited: limitedCount.load(ordering: .relaxed), limit: state.limiter.limit,
                inFlight: state.limiter.inFlight,
                waiting: state.rooms.mapValues { room in Int(clamping: room.presentWaitingCount) },
                waitSeconds: state.rooms.mapValues { room in Double(room.presentWaitingCount) / room.rate })
        }
    }

    /// True while an operator has the campaign paused.
    public func isPaused(_ campaign: String) -> Bool {
        guard pausedCount.load(ordering: .relaxed) > 0 else { return false }
        return state.withLock { $0.paused.contains(campaign) }
    }

    /// Pauses or resumes a campaign. Its waiting room stands still while paused: nobody is
    /// admitted, and nobody loses their place.
    public func setPaused(_ paused: Bool, campaign: String) {
        let now = clock().timeIntervalSince1970
        state.withLock { state in
            // Bring the room up to now under the old setting, so the pause starts (or ends) now.
            if var room = state.rooms[campaign] {
                room.advance(to: now)
                room.paused = paused
                state.rooms[campaign] = room
            }
            if paused { state.paused.insert(campaign) } else { state.paused.remove(campaign) }
            pausedCount.store(state.paused.count, ordering: .relaxed)
        }
    }

    /// The paused campaigns, sorted.
    public func pausedCampaigns() -> [String] {
        state.withLock { $0.paused.sorted() }
    }

    /// Sets (or, with nil, clears) an operator's fixed admission rate for a campaign.
    public func setFixedRate(_ perSecond: Double?, campaign: String) {
        state.withLock { $0.fixedRates[campaign] = perSecond }
    }

    /// An operator's change of the fixed rate: saved for every node first when the rooms are shared.
    package func changeFixedRate(_ perSecond: Double?, campaign: String) async throws {
        if let save = sharedRateStore.withLock({ $0 }) { try await save(campaign, perSecond) }
        setFixedRate(perSecond, campaign: campaign)
    }

    // MARK: Rooms shared by several nodes

    /// What this node asks of the shared room at a sync.
    package struct RoomSyncRequest: Sendable {
        /// Places to reserve for the next arrivals here.
        var places: UInt64
        /// Admissions per second this node sustains.
        var rate: Double
        /// Whether an operator paused the campaign.
        var paused: Bool
        /// Key of the pre-queue's order, should the room be new.
        var seed: UInt64
    }

    /// Makes the rooms shared: a fixed rate is saved through `saveRate` for every node.
    package func shareRooms(saveRate: @escaping @Sendable (String, Double?) async throws -> Void) {
        sharedRateStore.withLock { $0 = saveRate }
        state.withLock { $0.shared = true }
    }

    /// The campaign's room (opened if need be) brought to now, and what to ask of the database:
    /// as many places as arrived here since the last sync. Every place reserved and not used is
    /// one the frontier passes over for nobody, so a quiet node reserves none; arrivals beyond
    /// the block share places with other nodes' (admitted together) rather than leave holes.
    package func roomSyncRequest(for campaign: Campaign) -> RoomSyncRequest {
        let now = clock().timeIntervalSince1970
        return state.withLock { state in
            let room = currentRoom(for: campaign, now: now, state: &state)
            state.rooms[campaign.id] = room
            let arrivals = room.arrivalsSinceSync
            return RoomSyncRequest(
                places: arrivals, rate: room.adaptiveRate, paused: room.paused,
                seed: room.counters.shuffleSeed)
        }
    }

    /// Takes in the shared room after a sync; an operator's fixed rate set on any node comes with it.
    package func adopt(_ shared: SharedRoomState, campaign: String) {
        let now = clock().timeIntervalSince1970
        state.withLock { state in
            state.fixedRates[campaign] = shared.fixedRate
            state.rooms[campaign]?.adopt(shared, now: now)
        }
    }

    /// What survives a restart: every room's counters and the operators' fixed rates.
    public struct Snapshot: Codable, Sendable, Equatable {
        /// Waiting-room counters by campaign.
        public var rooms: [String: WaitingRoomCounters]
        /// Fixed admission rates (per second) by campaign.
        public var fixedRates: [String: Double]

        /// Creates a snapshot.
        public init(rooms: [String: WaitingRoomCounters], fixedRates: [String: Double]) {
            self.rooms = rooms
            self.fixedRates = fixedRates
        }
    }

    /// The state to persist.
    public func snapshot() -> Snapshot {
        state.withLock { state in
            Snapshot(
                rooms: state.restored.merging(state.rooms.mapValues(\.counters)) { _, open in open },
                fixedRates: state.fixedRates)
        }
    }

    /// Takes back persisted state (before serving); nil when nothing was saved.
    public func restore(_ snapshot: Snapshot?) {
        state.withLock { state in
            if let snapshot {
                state.restored = snapshot.rooms
                state.fixedRates = snapshot.fixedRates
            }
            state.hasRestored = true
        }
    }

    /// Whether the saved state has been taken back, so that saving now keeps it.
    package var hasRestored: Bool { state.withLock { $0.hasRestored } }
}

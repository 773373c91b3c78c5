import Foundation
import LanternStorage
import Logging
import ServiceLifecycle

/// Saves admission state (waiting-room counters, fixed rates) to the store every second and
/// at shutdown, so a restart does not send everyone waiting to the back of the line.
///
/// A crash loses at most the last second of arrivals' counter updates: their sequence numbers
/// may be handed out again after the restart, which at worst lets two people share a place.
public struct AdmissionPersistence: Service {
    /// Key of the state in the store.
    public static let stateKey = "admission"
    let admission: AdmissionControl
    let store: any LedgerStore
    let logger: Logger
    /// Where this node's counters are saved: nodes sharing a database each keep their own.
    let key: String

    /// Saves `admission`'s state to `store`; `node` names this node when it shares the store.
    public init(admission: AdmissionControl, store: any LedgerStore, logger: Logger, node: String? = nil) {
        self.admission = admission
        self.store = store
        self.logger = logger
        key = Self.key(node: node)
    }

    /// The key of a node's counters (one node alone keeps the original key).
    package static func key(node: String?) -> String { node.map { "\(stateKey):\($0)" } ?? stateKey }

    /// Key of the paused campaigns in the store.
    public static let pausedKey = "paused-campaigns"
    /// Key of the proof of work asked of new queue tickets, by campaign.
    public static let proofKey = "queue-proof-bits"

    /// Loads the saved state of `node` (nil: the only node) into `admission`, if there is any.
    public static func restore(_ admission: AdmissionControl, from store: any LedgerStore, node: String? = nil) async throws {
        try await refreshPaused(admission, from: store)
        try await refreshProofBits(admission, from: store)
        admission.restore(try await store.loadJSON(AdmissionControl.Snapshot.self, key: key(node: node)))
    }

    /// Pauses or resumes a campaign, durably: the new set of paused campaigns is saved before
    /// it takes effect, so an acknowledged pause survives a crash. Changes are saved one after
    /// another, so two operators pausing two campaigns at once both stay paused.
    ///
    /// The change starts from the set as saved, not from this node's copy, so a campaign another
    /// node sharing the store paused a moment ago stays paused.
    public static func setPaused(
        _ paused: Bool, campaign: String, admission: AdmissionControl, store: any LedgerStore
    ) async throws {
        try await admission.pauseSaves.run {
            var campaigns = try await savedPaused(in: store)
            if paused { campaigns.insert(campaign) } else { campaigns.remove(campaign) }
            try await store.saveJSON(campaigns.sorted(), key: pausedKey)
            apply(campaigns, to: admission)
        }
    }

    /// Makes `admission`'s paused campaigns those saved in the store, where other nodes sharing
    /// it may have paused or resumed one.
    public static func refreshPaused(_ admission: AdmissionControl, from store: any LedgerStore) async throws {
        try await admission.pauseSaves.run { apply(try await savedPaused(in: store), to: admission) }
    }

    /// Sets the proof of work a campaign's new queue tickets ask for, durably and for every node
    /// sharing the store, like a pause.
    public static func setProofBits(
        _ bits: Int, campaign: String, admission: AdmissionControl, store: any LedgerStore
    ) async throws {
        try await admission.pauseSaves.run {
            var saved = try await store.loadJSON([String: Int].self, key: proofKey) ?? [:]
            saved[campaign] = bits > 0 ? bits : nil
            try await store.saveJSON(saved, key: proofKey)
            apply(proofBits: saved, to: admission)
        }
    }

    /// Makes `admission`'s proof of work by campaign what is saved in the store.
    public static func refreshProofBits(_ admission: AdmissionControl, from store: any LedgerStore) async throws {
        try await admission.pauseSaves.run {
            apply(proofBits: try await store.loadJSON([String: Int].self, key: proofKey) ?? [:], to: admission)
        }
    }

    private static func apply(proofBits saved: [String: Int], to admission: AdmissionControl) {
        for campaign in Set(admission.proofBits().keys).union(saved.keys) {
            admission.setProofBits(saved[campaign] ?? 0, campaign: campaign)
        }
    }

    private static func savedPaused(in store: any LedgerStore) async throws -> Set<String> {
        Set(try await store.loadJSON([String].self, key: pausedKey) ?? [])
    }

    private static func apply(_ campaigns: Set<String>, to admission: AdmissionControl) {
        let current = Set(admission.pausedCampaigns())
        for campaign in current.subtracting(campaigns) { admission.setPaused(false, campaign: campaign) }
        for campaign in campaigns.subtracting(current) { admission.setPaused(true, campaign: campaign) }
    }

    /// Saves every second until shutdown, then once more; each second also picks up campaigns
    /// paused or resumed by other nodes sharing the store.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var saved: AdmissionControl.Snapshot?
            while true {
                try await Task.sleep(for: .seconds(1))
                saved = await save(unless: saved)
                do {
                    try await Self.refreshPaused(admission, from: store)
                    try await Self.refreshProofBits(admission, from: store)
                } catch {
                    logger.warning("could not read paused campaigns or proof of work", metadata: ["error": "\(error)"])
                }
            }
        }
        _ = await save(unless: nil)
    }

    /// Saves the admission state unless it is `previous` (or not restored yet); answers what is saved now.
    package func save(unless previous: AdmissionControl.Snapshot?) async -> AdmissionControl.Snapshot? {
        // A node still starting (its saved state not read yet, which under load can take longer
        // than the first second) would save its empty state over the one it is about to read.
        guard admission.hasRestored else { return previous }
        let snapshot = admission.snapshot()
        guard snapshot != previous else { return previous }
        do {
            try await store.saveJSON(snapshot, key: key)
            return snapshot
        } catch {
            logger.warning("could not save admission state", metadata: ["error": "\(error)"])
            return previous
        }
    }
}

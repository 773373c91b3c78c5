import Foundation
import LanternAdmission
import LanternLedger
import LanternStorage
import Logging
import ServiceLifecycle

/// One waiting room per campaign for all the nodes sharing a PostgreSQL database.
///
/// Ten times a second, for every campaign still taking claims, the node reserves a block of
/// places for its next arrivals (sized from the arrivals since the last sync), reports the
/// admission rate it sustains, and reads back the frontier, which the database moves at the
/// campaign-wide rate: an operator's fixed rate, or the live nodes' rates added up. Tickets are
/// numbered from the node's block, so whichever node a user reaches, one who arrived earlier is
/// admitted earlier, to within a sync interval; tickets are signed with the shared secret, so
/// every node honours every node's tickets.
package struct SharedWaitingRooms: Service {
    let store: PostgresLedgerStore
    let engine: LedgerEngine
    let admission: AdmissionControl
    let logger: Logger
    let interval: Duration

    package init(
        store: PostgresLedgerStore, engine: LedgerEngine, admission: AdmissionControl, logger: Logger,
        interval: Duration = .milliseconds(100)
    ) {
        self.store = store
        self.engine = engine
        self.admission = admission
        self.logger = logger
        self.interval = interval
        admission.shareRooms { campaign, rate in
            try await store.setWaitingRoomRate(campaign: campaign, perSecond: rate, seed: UInt64.random(in: 0...UInt64.max))
        }
    }

    package func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                do { try await sync() } catch { logger.debug("waiting rooms not synced", metadata: ["error": "\(error)"]) }
                try await Task.sleep(for: interval)
            }
        }
    }

    /// Syncs the room of every campaign still taking claims.
    package func sync() async throws {
        let now = Date()
        let campaigns = (try? engine.read { book in
            book.allAccounts.filter { $0.cardsExpiredAt == nil && now < $0.campaign.endsAt }.map(\.campaign)
        }) ?? []
        for campaign in campaigns {
            let request = admission.roomSyncRequest(for: campaign)
            let room = try await store.syncWaitingRoom(
                campaign: campaign.id, startsAt: campaign.startsAt, places: request.places, rate: request.rate,
                paused: request.paused, seed: request.seed)
            admission.adopt(room, campaign: campaign.id)
        }
    }
}

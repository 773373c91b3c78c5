import Foundation
import HTTPTypes
import Hummingbird
import LanternApp
import LanternCatalog
import LanternLedger
import LanternOrders
import LanternReports
import LanternStorage
import NIOCore

/// What a campaign bought, for operators: `GET /v1/admin/campaigns/{id}/report` as JSON, CSV
/// or HTML, and the `/report` page that shows and downloads it. The report reads the
/// database's journal, so it counts every node's claims and orders, not this node's memory.
struct ReportController: Sendable {
    let store: any LedgerStore
    let directory: MerchantDirectory
    let tokens: TokenAuthority

    /// `GET /report` on the root router and the report's API route, outside the claim deadline:
    /// reading a campaign's whole journal takes longer than a claim may.
    func addRoutes(root: Router<LanternRequestContext>) {
        root.get("report") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: ReportPage.html)))
        }
        root.group("v1/admin/campaigns").add(middleware: BearerAuthMiddleware(tokens: tokens))
            .get(":id/report", use: report)
    }

    @Sendable func report(_ request: Request, context: LanternRequestContext) async throws -> Response {
        _ = try context.require(.admin)
        let id = try context.parameters.require("id")
        let name = request.uri.queryParameters["format"].map(String.init) ?? "json"
        guard let format = ReportFormat(rawValue: name) else {
            throw APIError(.badRequest, "invalid_parameter", "format must be json, csv or html")
        }
        let read: CampaignReport?
        do {
            read = try await readCampaignReport(
                id, from: store, stores: directory.stores, tokens: tokens,
                includingTest: request.uri.queryParameters["include_test"] == "true")
        } catch {
            throw APIError.unavailable("\(error)")
        }
        guard let report = read else { throw APIError(LedgerError.campaignNotFound(id)) }
        var headers: HTTPFields = [.contentType: format.contentType]
        if format == .csv { headers[.contentDisposition] = "attachment; filename=\"\(id)-report.csv\"" }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: report.export(format))))
    }
}

/// The report of `campaign` as the store holds it: its events folded as they are read, the
/// experiments saved with it, users by `tokens`' pseudonyms and assignment hashes. Nil when the
/// store has no such campaign.
public func readCampaignReport(
    _ campaign: String, from store: any LedgerStore, stores: [Store], tokens: TokenAuthority, includingTest: Bool
) async throws -> CampaignReport? {
    let reading = try await store.foldReportEvents(
        campaign: campaign, into: CampaignReport.Reading(campaign: campaign, includingTest: includingTest)
    ) { $0.add($1) }
    let experiments = try await store.loadJSON([Experiment].self, key: ExperimentService.key) ?? []
    return CampaignReport(
        reading, stores: stores, experiments: experiments, assignment: tokens.experimentHash, pseudonym: tokens.pseudonym(of:))
}

import Foundation
import LanternLedger
import LanternOrders
import Testing

@testable import LanternReports

@Suite("Experiment results")
struct ExperimentResultTests {
    @Test("A mean's interval is 1.96 standard errors either side; a difference's is Welch's")
    func intervals() throws {
        let mean = try #require(ExperimentResult.mean([1, 2, 3, 4]))
        // Sample variance 5/3; standard error √(5/12) = 0.6455.
        #expect(mean.value == 2.5)
        #expect(abs(mean.high - mean.value - 1.959_964 * (5.0 / 12).squareRoot()) < 1e-9)
        #expect(mean.n == 4)
        let difference = try #require(ExperimentResult.difference([10, 12, 14], [1, 2, 3, 4]))
        // 12 − 2.5; variances 4 and 5/3 over 3 and 4 values.
        #expect(difference.value == 9.5)
        #expect(abs(difference.high - 9.5 - 1.959_964 * (4.0 / 3 + 5.0 / 12).squareRoot()) < 1e-9)
        #expect(difference.excludesZero)
        let overlap = try #require(ExperimentResult.difference([1, 3], [2, 2, 2]))
        #expect(!overlap.excludesZero)
        #expect(ExperimentResult.difference([1], [2, 3]) == nil, "one value has no spread")
        #expect(ExperimentResult.mean([]) == nil)
    }

    @Test("Users count in their assigned arm, orders in the arm whose policy placed them, as worked out by hand")
    func attribution() throws {
        // ann is in the control; bob and cy in "nearest", which is stopped at T+150 s, so cy's
        // order at T+200 s was routed by the control.
        var experiment = try Experiment(
            id: "routing-1", campaign: "spring", policy: .routing,
            variants: [.init(name: "soonest", value: "soonest"), .init(name: "nearest", value: "nearest")],
            startedAt: ReportFixture.start)
        experiment.stops = [Experiment.Stop(variant: 1, atMs: ReportFixture.ms(150), reason: "late")]
        let other = try Experiment(
            id: "elsewhere", campaign: "autumn", policy: .routing,
            variants: [.init(name: "a", value: "soonest"), .init(name: "b", value: "nearest")], startedAt: ReportFixture.start)
        var asked: Set<String> = []
        let report = try #require(
            CampaignReport(
                campaign: "spring", journal: ReportFixture.journal, stores: ReportFixture.stores, experiments: [experiment, other],
                assignment: { id, user in
                    asked.insert(id)
                    return user == "ann" ? 0 : 1
                }, pseudonym: { $0 }))
        #expect(asked == ["routing-1"])
        let result = try #require(report.experiments.first)
        #expect(report.experiments.count == 1)
        let (control, nearest) = (result.variants[0], result.variants[1])
        #expect(control.users == 1 && nearest.users == 2, "the test user is left out")
        #expect(control.orders == 2 && control.delivered == 2)
        #expect(nearest.orders == 1 && nearest.delivered == 0)
        #expect(control.conversion?.value == 1)
        #expect(nearest.conversion?.value == 0.5, "cy converted, in the arm she was assigned")
        // o1: 30 min to the door, 300 s late; o4: 20 min, 300 s early.
        #expect(control.minutesToDoor?.value == 25)
        #expect(control.latenessSeconds?.value == 0)
        #expect(control.onTime?.value == 0.5)
        #expect(control.costPerOrderFen?.value == 2_500)
        #expect(nearest.minutesToDoor == nil)
        #expect(control.versusControl == nil)
        #expect(nearest.versusControl?.conversion == nil, "the control's one user has no spread")
        #expect(nearest.stopped?.hasSuffix(": late") == true)
        let csv = report.export(.csv)
        #expect(csv.contains("experiment,routing-1.soonest.minutes_to_door,25.0000\r\n"))
        #expect(csv.contains("experiment,routing-1.soonest.on_time_low,0.0000\r\n"), "a share's interval stays within 0…1")
        #expect(report.export(.html).contains("Experiment routing-1"))
    }
}

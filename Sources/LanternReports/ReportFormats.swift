import Foundation

/// The forms a report is exported in.
public enum ReportFormat: String, Sendable, CaseIterable {
    /// The report as one JSON object (the API's answer).
    case json
    /// One `section,key,value` row per figure, for a spreadsheet.
    case csv
    /// A page that reads on its own, with tables and bars.
    case html

    /// The media type of an export.
    public var contentType: String {
        switch self {
        case .json: "application/json; charset=utf-8"
        case .csv: "text/csv; charset=utf-8"
        case .html: "text/html; charset=utf-8"
        }
    }
}

extension CampaignReport {
    /// The report in `format`.
    public func export(_ format: ReportFormat) -> String {
        switch format {
        case .json: json
        case .csv: csv
        case .html: html
        }
    }

    /// JSON with snake_case keys and ISO 8601 dates.
    var json: String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// The figures as rows of a table: section, key, value.
    var rows: [(String, String, String)] {
        var rows: [(String, String, String)] = [
            ("campaign", "id", campaign.id), ("campaign", "name", campaign.name),
            ("campaign", "budget_fen", "\(campaign.budgetFen)"), ("campaign", "card_value_fen", "\(campaign.cardValueFen)"),
            ("campaign", "cards_expired", "\(campaign.cardsExpired)"),
            ("campaign", "test_users_left_out", "\(testUsersLeftOut)"),
            ("funnel", "cards_issued", "\(funnel.cardsIssued)"), ("funnel", "welcome_cards", "\(funnel.welcomeCards)"),
            ("funnel", "referral_cards", "\(funnel.referralCards)"), ("funnel", "cards_ordered", "\(funnel.cardsOrdered)"),
            ("funnel", "cards_delivered", "\(funnel.cardsDelivered)"),
            ("funnel", "median_claim_to_order_s", Self.text(funnel.medianClaimToOrderSeconds)),
            ("funnel", "median_order_to_delivery_s", Self.text(funnel.medianOrderToDeliverySeconds)),
            ("funnel", "redemption_rate", String(format: "%.4f", funnel.redemptionRate)),
            ("money", "spent_fen", "\(money.spentFen)"), ("money", "delivered_card_orders", "\(money.deliveredCardOrders)"),
            ("money", "cost_per_delivered_order_fen", money.costPerDeliveredOrderFen.map { "\($0)" } ?? ""),
            ("money", "expired_unused_fen", "\(money.expiredUnusedFen)"),
            ("referrals", "referrers", "\(referrals.referrers)"), ("referrals", "referred", "\(referrals.referred)"),
            ("referrals", "max_fan_out", "\(referrals.maxFanOut)"),
            ("referrals", "mean_fan_out", String(format: "%.2f", referrals.meanFanOut)),
            ("referrals", "depth", "\(referrals.depth)"),
            ("customers", "new", "\(customers.new)"), ("customers", "returning", "\(customers.returning)"),
            ("lateness", "delivered", "\(lateness.delivered)"), ("lateness", "on_time", "\(lateness.onTime)"),
            ("lateness", "p50_s", Self.text(lateness.p50Seconds)), ("lateness", "p90_s", Self.text(lateness.p90Seconds)),
        ]
        rows += referrals.top.map { ("top_referrers", $0.key, "\($0.count)") }
        for cohort in retention {
            rows += [
                ("retention", "\(cohort.day) users", "\(cohort.users)"), ("retention", "\(cohort.day) day1", "\(cohort.day1)"),
                ("retention", "\(cohort.day) day7", "\(cohort.day7)"),
            ]
        }
        for (section, counts) in breakdownTables { rows += counts.map { (section, $0.key, "\($0.count)") } }
        rows += breakdowns.hours.enumerated().map { ("hours", String(format: "%02d", $0.offset), "\($0.element)") }
        for experiment in experiments {
            for variant in experiment.variants {
                let key = "\(experiment.id).\(variant.name)"
                rows += [
                    ("experiment", "\(key).value", variant.value), ("experiment", "\(key).users", "\(variant.users)"),
                    ("experiment", "\(key).orders", "\(variant.orders)"), ("experiment", "\(key).delivered", "\(variant.delivered)"),
                    ("experiment", "\(key).stopped", variant.stopped ?? ""),
                ]
                for (name, estimate) in variant.figures { rows += Self.rows(estimate, key: "\(key).\(name)") }
                for (name, estimate) in variant.versusControl?.figures ?? [] {
                    rows += Self.rows(estimate, key: "\(key).\(name)_vs_control")
                }
            }
        }
        return rows
    }

    /// An estimate as three rows, `key`, `key_low` and `key_high` (empty for none).
    private static func rows(_ estimate: ExperimentResult.Estimate?, key: String) -> [(String, String, String)] {
        let format = { (value: Double?) in value.map { String(format: "%.4f", $0) } ?? "" }
        return [
            ("experiment", key, format(estimate?.value)), ("experiment", key + "_low", format(estimate?.low)),
            ("experiment", key + "_high", format(estimate?.high)),
        ]
    }

    /// Each experiment as a table: a row per variant, each figure with its interval, and the
    /// difference from the control below it, marked where the interval leaves zero out.
    private var experimentTables: String {
        experiments.map { experiment in
            let header = "<tr><th>variant</th><th>users</th><th>orders</th>" + ExperimentResult.VariantResult.figureNames.map { "<th>\($0.1)</th>" }.joined() + "</tr>"
            let rows = experiment.variants.map { variant -> String in
                func cells(_ figures: [(String, ExperimentResult.Estimate?)], difference: Bool) -> String {
                    figures.map { _, estimate in
                        guard let estimate else { return "<td>–</td>" }
                        let mark = difference && estimate.excludesZero ? " <b>*</b>" : ""
                        return String(format: "<td class=n>%@%.2f <small>[%.2f, %.2f]</small>%@</td>", difference && estimate.value > 0 ? "+" : "", estimate.value, estimate.low, estimate.high, mark)
                    }.joined()
                }
                var row = "<tr><td>\(Self.escape(variant.name)) <small>(\(Self.escape(variant.value)))</small>\(variant.stopped.map { "<br><small>stopped \(Self.escape($0))</small>" } ?? "")</td><td class=n>\(variant.users)</td><td class=n>\(variant.orders)</td>\(cells(variant.figures, difference: false))</tr>"
                if let versus = variant.versusControl {
                    row += "<tr><td><small>against the control</small></td><td></td><td></td>\(cells(versus.figures, difference: true))</tr>"
                }
                return row
            }.joined()
            return "<h2>Experiment \(Self.escape(experiment.id)) <small>(\(Self.escape(experiment.policy)))</small></h2><p>95 % intervals; * marks a difference whose interval leaves zero out.</p><table>\(header)\(rows)</table>"
        }.joined()
    }

    private var breakdownTables: [(String, [Count])] {
        [
            ("districts", breakdowns.districts), ("cells", breakdowns.cells), ("stores", breakdowns.stores),
            ("brands", breakdowns.brands), ("drinks", breakdowns.drinks),
        ]
    }

    /// RFC 4180 CSV of `rows`, with a header.
    var csv: String {
        (["section,key,value"] + rows.map { [$0.0, $0.1, $0.2].map(Self.csvField).joined(separator: ",") })
            .joined(separator: "\r\n") + "\r\n"
    }

    /// A page with the headline figures, then each table.
    var html: String {
        func table(_ title: String, _ counts: [Count]) -> String {
            let peak = max(1, counts.map(\.count).max() ?? 1)
            let body = counts.map { count in
                "<tr><td>\(Self.escape(count.key))</td><td class=n>\(count.count)</td><td><span class=bar style=\"width:\(100 * count.count / peak)%\"></span></td></tr>"
            }.joined()
            return "<h2>\(title)</h2><table>\(body.isEmpty ? "<tr><td>none</td></tr>" : body)</table>"
        }
        let fen = { (value: Int64) in String(format: "¥%.2f", Double(value) / 100) }
        let headline: [(String, String)] = [
            ("cards issued (welcome + referral)", "\(funnel.cardsIssued) (\(funnel.welcomeCards) + \(funnel.referralCards))"),
            ("cards used in an order", "\(funnel.cardsOrdered)"),
            ("cards spent on a delivered order", "\(funnel.cardsDelivered)"),
            ("redemption rate", String(format: "%.1f %%", funnel.redemptionRate * 100)),
            ("median claim → order", Self.duration(funnel.medianClaimToOrderSeconds)),
            ("median order → delivery", Self.duration(funnel.medianOrderToDeliverySeconds)),
            ("spent of the budget", "\(fen(money.spentFen)) of \(fen(campaign.budgetFen))"),
            ("cost per delivered order", money.costPerDeliveredOrderFen.map(fen) ?? "–"),
            ("value that expired unused", campaign.cardsExpired ? fen(money.expiredUnusedFen) : "cards not expired yet"),
            ("new / returning customers", "\(customers.new) / \(customers.returning)"),
            ("referrers, referred, most by one, longest chain", "\(referrals.referrers), \(referrals.referred), \(referrals.maxFanOut), \(referrals.depth)"),
            ("delivered on time", lateness.delivered == 0 ? "–" : "\(lateness.onTime) of \(lateness.delivered)"),
            ("lateness p50 / p90", "\(Self.duration(lateness.p50Seconds)) / \(Self.duration(lateness.p90Seconds))"),
        ]
        let retentionRows = retention.map { "<tr><td>\($0.day)</td><td class=n>\($0.users)</td><td class=n>\($0.day1)</td><td class=n>\($0.day7)</td></tr>" }.joined()
        let hours = breakdowns.hours.enumerated().map { Count(key: String(format: "%02d:00", $0.offset), count: $0.element) }
        return """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Lantern report: \(Self.escape(campaign.name))</title>
            <style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse;margin-bottom:1em}
            td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:left}.n{text-align:right;font-variant-numeric:tabular-nums}
            .bar{display:inline-block;height:10px;background:#e67e22;min-width:1px}td:last-child{width:20em}</style></head><body>
            <h1>\(Self.escape(campaign.name)) <small>(\(Self.escape(campaign.id)))</small></h1>
            <p>Users appear as pseudonyms, delivery addresses as cells of about 500 m. Days and hours are Shanghai time.
            \(testUsersLeftOut > 0 ? "Test traffic left out: \(testUsersLeftOut) users." : "")</p>
            <table>\(headline.map { "<tr><th>\($0.0)</th><td>\(Self.escape($0.1))</td></tr>" }.joined())</table>
            <h2>Ordered again after the free one</h2><table><tr><th>first free order</th><th>users</th><th>next day</th><th>within 7 days</th></tr>\(retentionRows)</table>
            \(experimentTables)\(table("Top referrers", referrals.top))\(breakdownTables.map { table($0.0.capitalized, $0.1) }.joined())\(table("Hours", hours))
            </body></html>
            """
    }

    private static func text(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "" }

    private static func duration(_ seconds: Double?) -> String {
        guard let seconds else { return "–" }
        let sign = seconds < 0 ? "−" : ""
        let value = abs(seconds)
        return value < 120 ? "\(sign)\(Int(value.rounded())) s" : value < 7_200 ? "\(sign)\(Int((value / 60).rounded())) min" : String(format: "%@%.1f h", sign, value / 3_600)
    }

    private static func csvField(_ field: String) -> String {
        field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

extension ExperimentResult.VariantResult {
    /// The figures' keys and headings, in the order reports show them.
    static let figureNames = [
        ("conversion", "conversion"), ("cost_per_order_fen", "cost per order (fen)"), ("lateness_s", "lateness (s)"),
        ("on_time", "on time"), ("minutes_to_door", "minutes to the door"),
    ]

    /// The figures by key.
    var figures: [(String, ExperimentResult.Estimate?)] {
        zip(Self.figureNames.map(\.0), [conversion, costPerOrderFen, latenessSeconds, onTime, minutesToDoor]).map { ($0, $1) }
    }
}

extension ExperimentResult.Differences {
    /// The differences by the figures' keys.
    var figures: [(String, ExperimentResult.Estimate?)] {
        zip(ExperimentResult.VariantResult.figureNames.map(\.0), [conversion, costPerOrderFen, latenessSeconds, onTime, minutesToDoor])
            .map { ($0, $1) }
    }
}

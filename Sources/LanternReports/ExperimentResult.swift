import Dispatch
import Foundation
import LanternLedger
import LanternOrders

/// What an experiment found: each variant's conversion, cost per delivered order, lateness
/// and time to the door, with 95 % confidence intervals, and each against the control.
///
/// Users count in the variant they were assigned (intention to treat), so a variant the
/// guardrail stopped keeps its users for conversion; an order counts in the variant whose
/// policy placed it (the control's, once its own variant was stopped). Only card orders of the
/// campaign placed while the experiment ran count.
public struct ExperimentResult: Sendable, Equatable, Codable {
    /// The experiment.
    public var id: String
    /// The policy it varies.
    public var policy: String
    /// When it started.
    public var startedAt: Date
    /// When it ended, if it did.
    public var endedAt: Date?
    /// The variants, control first.
    public var variants: [VariantResult]

    /// One variant's figures.
    public struct VariantResult: Sendable, Equatable, Codable {
        /// Its name.
        public var name: String
        /// The policy's value in it.
        public var value: String
        /// Why and when it was stopped, if it was.
        public var stopped: String?
        /// Card holders assigned to it.
        public var users: Int
        /// Of them, those with a delivered card order: conversion.
        public var conversion: Estimate?
        /// Card orders its policy placed.
        public var orders: Int
        /// Of them, delivered.
        public var delivered: Int
        /// The card's discount per delivered order, fen.
        public var costPerOrderFen: Estimate?
        /// Seconds after the promise at the door (negative: early).
        public var latenessSeconds: Estimate?
        /// Share delivered on or before the promise.
        public var onTime: Estimate?
        /// Minutes from the order to the door.
        public var minutesToDoor: Estimate?
        /// This variant less the control, for each figure; nil for the control itself.
        public var versusControl: Differences?
    }

    /// The differences of a variant from the control.
    public struct Differences: Sendable, Equatable, Codable {
        /// In conversion.
        public var conversion: Estimate?
        /// In cost per delivered order, fen.
        public var costPerOrderFen: Estimate?
        /// In lateness, seconds.
        public var latenessSeconds: Estimate?
        /// In the on-time share.
        public var onTime: Estimate?
        /// In minutes to the door.
        public var minutesToDoor: Estimate?
    }

    /// A figure with its 95 % confidence interval (normal approximation) and sample size.
    public struct Estimate: Sendable, Equatable, Codable {
        /// The estimate.
        public var value: Double
        /// Lower end of the 95 % interval.
        public var low: Double
        /// Upper end of the 95 % interval.
        public var high: Double
        /// Observations it rests on (for a difference, those of the variant).
        public var n: Int

        /// Whether the interval leaves zero out: the difference is not chance at the 5 % level.
        public var excludesZero: Bool { low > 0 || high < 0 }
    }

    /// 97.5th percentile of the standard normal distribution.
    static let z = 1.959_964

    /// The result of `experiment` over the campaign's card holders (users' numbers) and its card
    /// orders (rows of `columns`); `hash` gives a user's keyed assignment hash, as the server
    /// computed it.
    init(
        _ experiment: Experiment, holders: [Int32], orders rows: [Int], in columns: CampaignReport.Reading.Orders,
        hash: (Int32) -> UInt64
    ) {
        id = experiment.id
        policy = experiment.policy.rawValue
        startedAt = experiment.startedAt
        endedAt = experiment.endedAt
        let startMs = experiment.startedAt.millisecondsSince1970
        let endMs = experiment.endedAt?.millisecondsSince1970 ?? .max
        let count = experiment.variants.count
        // Holders are distinct (one welcome card each): one keyed hash per user, worked out on
        // every core (the hashes are most of an experiment's time).
        let computed = Self.parallelMap(holders, hash)
        // By user number: each holder's hash, and whether they hold a card at all.
        let userCount = Int((holders.max() ?? -1) + 1)
        var hashes = [UInt64](repeating: 0, count: userCount)
        var holds = [Bool](repeating: false, count: userCount)
        var users = Array(repeating: 0, count: count)
        for (user, value) in zip(holders, computed) {
            hashes[Int(user)] = value
            holds[Int(user)] = true
            users[experiment.assigned(hash: value)] += 1
        }
        var converted = [Bool](repeating: false, count: userCount)
        var placed = Array(repeating: 0, count: count)
        var cost = Array(repeating: [Double](), count: count)
        var late = Array(repeating: [Double](), count: count)
        var onTime = Array(repeating: [Double](), count: count)
        var door = Array(repeating: [Double](), count: count)
        for row in rows where columns.placedAt[row] >= startMs && columns.placedAt[row] < endMs {
            let user = Int(columns.user[row])
            guard user < userCount, holds[user] else { continue }
            let value = hashes[user]
            let variant = experiment.effective(hash: value, atMs: columns.placedAt[row])
            placed[variant] += 1
            guard columns.state[row] == .delivered else { continue }
            let at = columns.updatedAt[row]
            converted[user] = true
            cost[variant].append(Double(columns.discount[row]))
            let seconds = Double(at - columns.promisedAt[row]) / 1_000
            late[variant].append(seconds)
            onTime[variant].append(seconds <= 0 ? 1 : 0)
            door[variant].append(Double(at - columns.placedAt[row]) / 60_000)
        }
        // Conversion as a share: each assigned user a 1 (converted) or a 0.
        var convertedBy = Array(repeating: 0, count: count)
        for user in 0..<userCount where converted[user] { convertedBy[experiment.assigned(hash: hashes[user])] += 1 }
        let conversions = (0..<count).map { index in
            Array(repeating: 1.0, count: convertedBy[index]) + Array(repeating: 0.0, count: users[index] - convertedBy[index])
        }
        variants = experiment.variants.indices.map { index in
            let variant = experiment.variants[index]
            let stop = experiment.stops.first { $0.variant == index }
            func versus(_ samples: [[Double]]) -> Estimate? {
                index == 0 ? nil : Self.difference(samples[index], samples[0])
            }
            return VariantResult(
                name: variant.name, value: variant.value,
                stopped: stop.map { "\(ISO8601DateFormatter().string(from: Date(millisecondsSince1970: $0.atMs))): \($0.reason)" },
                users: users[index], conversion: Self.mean(conversions[index], share: true), orders: placed[index],
                delivered: door[index].count, costPerOrderFen: Self.mean(cost[index]), latenessSeconds: Self.mean(late[index]),
                onTime: Self.mean(onTime[index], share: true), minutesToDoor: Self.mean(door[index]),
                versusControl: index == 0
                    ? nil
                    : Differences(
                        conversion: versus(conversions), costPerOrderFen: versus(cost), latenessSeconds: versus(late),
                        onTime: versus(onTime), minutesToDoor: versus(door)))
        }
    }

    /// `transform` of every value, in order, the work split over the machine's cores.
    static func parallelMap(_ values: [Int32], _ transform: (Int32) -> UInt64) -> [UInt64] {
        let parts = max(1, min(ProcessInfo.processInfo.activeProcessorCount, values.count / 10_000))
        return withoutActuallyEscaping(transform) { transform in
            let box = UnsafeSendable(transform)
            var results = [UInt64](repeating: 0, count: values.count)
            results.withUnsafeMutableBufferPointer { output in
                let out = UnsafeSendable(output)
                DispatchQueue.concurrentPerform(iterations: parts) { part in
                    let range = (values.count * part / parts)..<(values.count * (part + 1) / parts)
                    for index in range { out.value[index] = box.value(values[index]) }
                }
            }
            return results
        }
    }

    /// The mean of `values` with its interval; nil for none. A share is the mean of 0s and 1s,
    /// and its interval is kept within 0…1.
    static func mean(_ values: [Double], share: Bool = false) -> Estimate? {
        guard let (mean, variance) = moments(values) else { return nil }
        let half = z * (variance / Double(values.count)).squareRoot()
        return Estimate(
            value: mean, low: share ? max(0, mean - half) : mean - half, high: share ? min(1, mean + half) : mean + half,
            n: values.count)
    }

    /// The difference of means `a − b` with Welch's interval; nil unless both have two values.
    static func difference(_ a: [Double], _ b: [Double]) -> Estimate? {
        guard a.count >= 2, b.count >= 2, let (meanA, varianceA) = moments(a), let (meanB, varianceB) = moments(b) else {
            return nil
        }
        let value = meanA - meanB
        let half = z * (varianceA / Double(a.count) + varianceB / Double(b.count)).squareRoot()
        return Estimate(value: value, low: value - half, high: value + half, n: a.count)
    }

    /// Mean and sample variance (0 for one value).
    private static func moments(_ values: [Double]) -> (Double, Double)? {
        guard !values.isEmpty else { return nil }
        let mean = values.reduce(0, +) / Double(values.count)
        guard values.count > 1 else { return (mean, 0) }
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
        return (mean, variance)
    }
}

/// A value handed to the threads of `parallelMap`, each of which touches its own part of it.
private struct UnsafeSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// How a simulated crowd arrives over a run, for `lantern rush`.
public enum ArrivalProfile: String, Sendable, CaseIterable {
    /// The same rate throughout.
    case step
    /// Rising steadily from nothing.
    case ramp
    /// The real morning: quiet, then tens of times the base rate at the start, then a tail.
    case spike

    /// When each of `users` arrives within `duration` seconds, in order.
    public func arrivalTimes(users: Int, duration: Double) -> [Double] {
        guard users > 0 else { return [] }
        return (0..<users).map { index in
            let fraction = (Double(index) + 0.5) / Double(users)
            switch self {
            case .step:
                return fraction * duration
            case .ramp:
                return fraction.squareRoot() * duration
            case .spike:
                // 5% over the first 20% of the time, 70% in the next 10%, 25% over the rest:
                // the spike's rate is 35 times the quiet rate before it.
                if fraction < 0.05 { return fraction / 0.05 * 0.2 * duration }
                if fraction < 0.75 { return (0.2 + (fraction - 0.05) / 0.70 * 0.1) * duration }
                return (0.3 + (fraction - 0.75) / 0.25 * 0.7) * duration
            }
        }
    }
}

/// Spearman's rank correlation of two equally long samples (ties get their average rank):
/// 1 when the second orders the items exactly as the first does.
public func rankCorrelation(_ first: [Double], _ second: [Double]) -> Double {
    precondition(first.count == second.count)
    guard first.count > 1 else { return 1 }
    func ranks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var result = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
            let average = Double(start + end) / 2
            for position in start...end { result[order[position]] = average }
            start = end + 1
        }
        return result
    }
    let (a, b) = (ranks(first), ranks(second))
    let meanA = a.reduce(0, +) / Double(a.count)
    let meanB = b.reduce(0, +) / Double(b.count)
    var covariance = 0.0
    var varianceA = 0.0
    var varianceB = 0.0
    for index in a.indices {
        covariance += (a[index] - meanA) * (b[index] - meanB)
        varianceA += (a[index] - meanA) * (a[index] - meanA)
        varianceB += (b[index] - meanB) * (b[index] - meanB)
    }
    guard varianceA > 0, varianceB > 0 else { return 1 }
    return covariance / (varianceA * varianceB).squareRoot()
}

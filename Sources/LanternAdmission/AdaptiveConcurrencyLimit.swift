/// An adaptive limit on concurrent expensive requests, in the spirit of Netflix's
/// concurrency-limits (Gradient/Vegas).
///
/// It compares the recent average latency with the no-load latency (the lowest window average;
/// it may rise only in windows where nothing was turned away, because only then does latency
/// show the server unloaded, so a lasting slowdown is learnt without creeping under overload):
/// while recent latency stays within
/// `tolerance` times the baseline the server is not queueing and the limit grows by about
/// √limit per window; past it the limit shrinks in proportion. It settles where a small queue
/// keeps the server busy, and requests over the limit are not queued inside the server.
/// Pure state; the server keeps it behind a lock.
public struct AdaptiveConcurrencyLimit: Sendable {
    /// Current limit on requests in flight.
    public private(set) var limit: Double
    /// Requests in flight now.
    public private(set) var inFlight = 0
    /// Lowest the limit goes.
    public let minLimit: Double
    /// Highest the limit goes.
    public let maxLimit: Double
    /// How much latency growth counts as "not yet queueing".
    public let tolerance: Double
    /// Samples per short-term window.
    public let windowSize: Int
    /// No-load latency estimate, in seconds.
    public private(set) var baselineLatency: Double = 0
    /// Last short-term average of latency, in seconds.
    public private(set) var shortLatency: Double = 0
    private var windowSum: Double = 0
    private var windowCount = 0
    private let baselineDrift = 1.05
    private var refusedInWindow = false
    private let smoothing: Double = 0.2

    /// Creates a limit starting at `initial`.
    public init(
        initial: Double = 64, minLimit: Double = 8, maxLimit: Double = 4_096, tolerance: Double = 1.5,
        windowSize: Int = 100
    ) {
        self.limit = initial
        self.minLimit = minLimit
        self.maxLimit = maxLimit
        self.tolerance = tolerance
        self.windowSize = windowSize
    }

    /// Takes a slot if one is free.
    public mutating func tryAcquire() -> Bool {
        guard Double(inFlight) < limit.rounded(.down) else {
            refusedInWindow = true
            return false
        }
        inFlight += 1
        return true
    }

    /// Takes a slot even over the limit (for requests already admitted by the waiting room).
    public mutating func forceAcquire() {
        inFlight += 1
    }

    /// Gives a slot back, with the latency the request saw (seconds).
    public mutating func release(latency: Double) {
        inFlight = max(0, inFlight - 1)
        windowSum += latency
        windowCount += 1
        guard windowCount >= windowSize else { return }
        update(short: windowSum / Double(windowCount))
        windowSum = 0
        windowCount = 0
    }

    /// Gives a slot back without a latency sample (the request failed early).
    public mutating func releaseWithoutSample() {
        inFlight = max(0, inFlight - 1)
    }

    private mutating func update(short: Double) {
        shortLatency = short
        if baselineLatency == 0 || short < baselineLatency {
            baselineLatency = short
        } else if !refusedInWindow {
            baselineLatency = min(short, baselineLatency * baselineDrift)
        }
        refusedInWindow = false
        let gradient = max(0.5, min(1.0, tolerance * baselineLatency / short))
        let proposed = limit * gradient + limit.squareRoot()
        limit = min(maxLimit, max(minLimit, limit * (1 - smoothing) + proposed * smoothing))
    }

    /// Throughput the server sustains at the current limit and latency (requests per second),
    /// by Little's law; nil before the first window.
    public var sustainableRate: Double? {
        shortLatency > 0 ? limit / shortLatency : nil
    }
}

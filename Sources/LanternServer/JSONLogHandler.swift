import Foundation
import LanternAssistant
import Logging
import Synchronization

/// A swift-log handler that writes one JSON object per line to standard error:
/// `{"ts","level","label","message", …metadata}` — what log shippers expect. Every line logged
/// while answering a request carries its `hb.request.id` (the `X-Request-Id` the client saw).
public struct JSONLogHandler: LogHandler {
    /// Serialises writes from all handlers so lines never interleave.
    private static let output = Mutex(())

    private let label: String
    /// Level at and above which messages are written.
    public var logLevel: Logger.Level = .info
    /// Metadata added to every message of this logger.
    public var metadata: Logger.Metadata = [:]

    /// Creates a handler for the logger named `label`.
    public init(label: String) { self.label = label }

    /// Reads or sets one metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one line.
    public func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("ts", Self.timestamp(Date())), ("level", event.level.rawValue), ("label", label),
            ("message", event.message.description),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) { fields.append((key, value.description)) }
        if event.level >= .warning { fields.append(("source", "\(event.file):\(event.line)")) }
        let line = Self.line(fields) + "\n"
        Self.output.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// One JSON object of string fields, in order.
    static func line(_ fields: [(String, String)]) -> String {
        JSONValue.object(fields.map { ($0.0, .string($0.1)) }).text
    }

    private static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: true).timeSeparator(.colon))
            + "Z"
    }
}

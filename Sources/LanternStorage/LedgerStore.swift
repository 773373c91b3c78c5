import LanternLedger

/// Where the ledger's journal is made durable.
///
/// `append` returns only once its events are committed (fsynced); a thrown error means the
/// outcome is unknown, so the engine reloads the journal to learn the truth.
public protocol LedgerStore: Sendable {
    /// Makes one commit batch of events durable, all or nothing.
    func append(_ events: [LedgerEvent]) async throws
    /// Every committed batch, oldest first.
    func loadJournal() async throws -> [[LedgerEvent]]
    /// Succeeds when the store answers queries.
    func ping() async throws
}

/// Which store `--database` names.
public enum StoreLocation: Sendable, Equatable {
    /// An embedded SQLite file.
    case sqlite(path: String)
    /// A PostgreSQL server, by URL.
    case postgres(url: String)

    /// The embedded default: `./lantern.sqlite`.
    public static let `default` = StoreLocation.sqlite(path: "lantern.sqlite")

    /// A `--database` value that is neither `sqlite:PATH` nor a `postgres://` URL.
    public struct ParseError: Error, CustomStringConvertible {
        /// Explains the accepted forms.
        public var description: String
    }

    /// Parses `sqlite:PATH`, `postgres://…` or `postgresql://…`.
    public init(parsing text: String) throws {
        if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw ParseError(description: "sqlite: needs a file path, e.g. sqlite:lantern.sqlite") }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(url: text)
        } else {
            throw ParseError(description: "--database takes sqlite:PATH or postgres://user:password@host:port/database")
        }
    }
}

/// A request the application refuses for what it asks (an unknown store, an item the catalog
/// cannot make): the edges give it their own form, an HTTP status or a tool's failure.
///
/// The ledger's and admission's refusals (`LedgerError`, `AdmissionRefusal`) are thrown as they
/// are; this covers the rules that live in the services.
public struct Refusal: Error, Sendable, Equatable {
    /// What kind of refusal it is, which decides its HTTP status.
    public enum Kind: Sendable, Equatable {
        /// The request names something that does not exist (or that the caller may not see).
        case notFound
        /// The request is well formed but asks for something that cannot be done.
        case invalid
        /// The request conflicts with what is already there (an id taken, an experiment running).
        case conflict
    }

    /// Its kind.
    public var kind: Kind
    /// Stable machine-readable code, e.g. `merchant_not_found`.
    public var code: String
    /// Human-readable explanation.
    public var message: String

    /// Creates a refusal.
    public init(_ kind: Kind, _ code: String, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }
}

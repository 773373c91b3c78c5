/// Writes one entry of the operators' audit log (action, who, what, and a few named details)
/// and returns once it is durable; a service calls it before acknowledging a control.
package typealias AuditRecorder = @Sendable (
    _ action: String, _ actor: Identity, _ target: String, _ detail: [(String, String)]
) async throws -> Void

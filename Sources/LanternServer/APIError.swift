import Foundation
import Hummingbird
import LanternAdmission
import LanternApp
import LanternLedger
import LanternStorage

/// An error answered as `{"error":{"code":"…","message":"…"}}` with its HTTP status.
public struct APIError: Error, HTTPResponseError, Sendable {
    /// HTTP status.
    public var status: HTTPResponse.Status
    /// Stable machine-readable code.
    public var code: String
    /// Human-readable explanation.
    public var message: String
    /// Extra headers, such as `Retry-After`.
    public var headers: HTTPFields

    /// Creates an API error.
    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    /// 400 for a body that is not JSON.
    public static func malformedJSON(_ detail: String) -> APIError {
        APIError(.badRequest, "malformed_json", "the request body is not valid JSON: \(detail)")
    }

    /// 401 for a missing, forged or expired token.
    public static func unauthorized(_ message: String = "a valid bearer token is required") -> APIError {
        APIError(.unauthorized, "unauthorized", message, headers: [.wwwAuthenticate: "Bearer"])
    }

    /// 403 for a token whose role may not do this.
    public static func forbidden(_ message: String) -> APIError {
        APIError(.forbidden, "forbidden", message)
    }

    /// 503 while the store cannot commit.
    public static func unavailable(_ message: String) -> APIError {
        APIError(.serviceUnavailable, "store_unavailable", message, headers: [.retryAfter: "1"])
    }

    /// 503 for an operator's or merchant's change the store did not save: nothing changed.
    static let changeNotSaved = unavailable("the store did not save the change; nothing changed")

    /// The API form of a ledger refusal.
    public init(_ error: LedgerError) {
        let status: HTTPResponse.Status =
            switch error {
            case .campaignNotFound, .orderNotFound: .notFound
            case .campaignExists, .cardLimitReached, .illegalTransition: .conflict
            case .invalidCampaign, .selfReferral, .idempotencyKeyReused, .cardNotFound, .cardNotUsable: .unprocessableContent
            case .campaignNotActive: .forbidden
            case .budgetExhausted: .gone
            case .budgetHeldElsewhere: .serviceUnavailable
            }
        self.init(status, error.code, error.message, headers: error == .budgetHeldElsewhere ? [.retryAfter: "1"] : [:])
    }

    /// The API form of an admission refusal.
    public init(_ refusal: AdmissionRefusal) {
        let status: HTTPResponse.Status =
            switch refusal {
            case .rateLimited: .tooManyRequests
            case .campaignPaused, .ticketNotYours: .forbidden
            case .ticketExpired: .gone
            case .invalidTicket: .badRequest
            case .proofRequired, .proofInvalid: .preconditionRequired
            }
        var headers: HTTPFields = [:]
        if case .rateLimited(let seconds) = refusal { headers[.retryAfter] = "\(seconds)" }
        self.init(status, refusal.code, refusal.message, headers: headers)
    }

    /// The API form of a service's refusal.
    public init(_ refusal: Refusal) {
        let status: HTTPResponse.Status =
            switch refusal.kind {
            case .notFound: .notFound
            case .invalid: .unprocessableContent
            case .conflict: .conflict
            }
        self.init(status, refusal.code, refusal.message)
    }

    /// The API form of an error the application's layers throw, if it has one.
    public static func translating(_ error: any Error) -> APIError? {
        switch error {
        case let error as APIError: error
        case let refusal as AdmissionRefusal: APIError(refusal)
        case let error as LedgerError: APIError(error)
        case let refusal as Refusal: APIError(refusal)
        case let error as LedgerUnavailable: .unavailable(error.description)
        default: nil
        }
    }

    /// Renders the error body.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
        response.headers.append(contentsOf: headers)
        return response
    }

    /// The JSON body this error is answered with.
    var body: [UInt8] { JSONBody.encoded(ErrorEnvelope(error: .init(code: code, message: message))) }

    private struct ErrorEnvelope: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
        }
        var error: Detail
    }
}

/// Turns every error a route throws into the JSON error shape, so no client ever sees a bare 500
/// page or a non-JSON body.
public struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Creates the middleware.
    public init() {}

    /// Runs the next responder and translates what it throws.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            if let translated = APIError.translating(error) { return try translated.response(from: request, context: context) }
            if let error = error as? HTTPResponseError { return try Self.translate(error).response(from: request, context: context) }
            context.logger.error("unhandled error", metadata: ["error": "\(error)"])
            return try APIError(.internalServerError, "internal_error", "something went wrong on our side")
                .response(from: request, context: context)
        }
    }

    private static func translate(_ error: HTTPResponseError) -> APIError {
        switch error.status {
        case .notFound: return APIError(.notFound, "not_found", "no such route")
        case .methodNotAllowed: return APIError(.methodNotAllowed, "method_not_allowed", "method not allowed here")
        case .contentTooLarge: return APIError(.contentTooLarge, "body_too_large", "the request body is too large")
        case .badRequest: return APIError(.badRequest, "bad_request", "the request could not be read")
        default:
            return APIError(error.status, "http_\(error.status.code)", error.status.reasonPhrase)
        }
    }
}

import Hummingbird
import LanternStorage

/// Gives every request behind it one answer deadline for all its waits on the store (reading
/// the user, committing the order), so it is answered 503 with Retry-After in time even when
/// it waits more than once.
struct AnswerDeadlineMiddleware: RouterMiddleware {
    typealias Context = LanternRequestContext
    let deadline: Duration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        try await AnswerDeadline.$instant.withValue(.now + deadline) { try await next(request, context) }
    }
}

import Hummingbird
import NIOCore

/// Runs a connection's request handling on that connection's own event loop: after a route
/// awaits something (a ledger commit), it resumes where the socket lives, so writing the
/// response needs no second hop between threads.
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop jobs run on.
    public let eventLoop: any EventLoop

    /// Creates an executor for `eventLoop`.
    public init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    /// Runs the job on the event loop.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute { job.runSynchronously(on: executor) }
    }
}

/// Applies `EventLoopTaskExecutor` to every route behind it.
struct EventLoopAffinityMiddleware: RouterMiddleware {
    typealias Context = LanternRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        try await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop: context.eventLoop)) {
            try await next(request, context)
        }
    }
}

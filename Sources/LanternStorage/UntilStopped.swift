import ServiceLifecycle

/// Runs a service's `work`, calling `drain` when the service is asked to stop: on graceful
/// shutdown, and on cancellation too, which is how a service group stops the rest when one of
/// its services fails (the server's port taken, say). A service that listened for graceful
/// shutdown alone kept the process running for good after such a failure.
package func untilStopped(_ work: () async -> Void, drain: @escaping @Sendable () -> Void) async {
    await withTaskCancellationHandler {
        await withGracefulShutdownHandler {
            await work()
        } onGracefulShutdown: {
            drain()
        }
    } onCancel: {
        drain()
    }
}

/// The instant by which the request being served must be answered.
///
/// A request may wait on the store more than once (load the user, then commit the order); each
/// wait is bounded by what is left of the one deadline, so the request as a whole answers 503
/// with Retry-After in time however the store misbehaves. The HTTP layer sets it per request;
/// without it, each wait gets the engine's whole answer deadline from when it starts.
public enum AnswerDeadline {
    /// The current request's instant, if one was set.
    @TaskLocal public static var instant: ContinuousClock.Instant?
}

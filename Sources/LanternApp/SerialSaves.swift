import Synchronization

/// Runs saves of one shared value strictly one after another, in the order they were asked for.
///
/// A change to node state is read, saved and only then applied in memory. Two such changes
/// running side by side would each save a value missing the other's change, and the slower
/// save would win in the store; run through here, each one starts from what the one before it
/// left, and a save that fails applies nothing.
package final class SerialSaves: Sendable {
    private let last = Mutex<Task<Void, Never>?>(nil)

    /// Creates an empty queue of saves.
    package init() {}

    /// Runs `save` once every save asked for before it has finished; returns its result.
    package func run<T: Sendable>(_ save: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = last.withLock { last -> Task<T, any Error> in
            let previous = last
            let task = Task {
                await previous?.value
                return try await save()
            }
            last = Task { _ = await task.result }
            return task
        }
        return try await task.value
    }
}

import Hummingbird
import LanternLedger
import NIOCore
import ServiceLifecycle

extension ResponseBody {
    /// Server-sent events of orders as they change (`event: order`, `data:` as `json` writes
    /// it), with a comment every `orderHeartbeat` between them, so that neither the idle timeout nor
    /// a proxy takes a quiet stream for a dead one. Ends at graceful shutdown; a client that left
    /// is noticed at the next write.
    static func orderEvents(
        opening: String, updates: AsyncStream<Order>, json: @escaping @Sendable (Order) -> [UInt8]
    ) -> ResponseBody {
        ResponseBody { writer in
            try await writer.write(ByteBuffer(string: ": \(opening)\n\n"))
            // `nil` is a beat.
            let (merged, input) = AsyncStream.makeStream(of: Order?.self, bufferingPolicy: .bufferingNewest(64))
            let feeder = Task {
                for await order in updates { input.yield(order) }
                input.finish()
            }
            let beats = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: orderHeartbeat)
                    input.yield(nil)
                }
            }
            defer {
                feeder.cancel()
                beats.cancel()
            }
            for await change in merged.cancelOnGracefulShutdown() {
                guard let order = change else {
                    try await writer.write(ByteBuffer(string: ": still here\n\n"))
                    continue
                }
                try await writer.write(ByteBuffer(string: "event: order\ndata: " + String(decoding: json(order), as: UTF8.self) + "\n\n"))
            }
            try await writer.finish(nil)
        }
    }

    /// How often a quiet order stream says it is still there.
    static let orderHeartbeat = Duration.seconds(25)
}

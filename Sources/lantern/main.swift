import NIOCore
import NIOPosix

// Run Swift Concurrency on SwiftNIO's event loops, so a request's handler continues on the
// thread that owns its connection instead of hopping to a separate pool and back. This has
// to happen before any task starts, hence this file rather than `@main`.
NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
await Lantern.launch()

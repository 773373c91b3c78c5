import NIOCore
import NIOPosix

// `lantern serve` runs Swift Concurrency on SwiftNIO's event loops, so a request's handler
// continues on the thread that owns its connection instead of hopping to a separate pool and
// back. This has to happen before any task starts, hence this file rather than `@main`. The
// other commands keep the default pool, which suits their many small tasks better.
let subcommand = CommandLine.arguments.dropFirst().first
if subcommand == nil || subcommand == "serve" || subcommand?.hasPrefix("-") == true {
    NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
}
await Lantern.launch()

import ArgumentParser
import Foundation
import LanternServer
import LanternStorage
import Logging

/// `lantern seed`: writes a deterministic demo city into the store.
struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a deterministic demo city (stores and riders) into the store; `lantern serve` then runs it.")

    @OptionGroup var database: DatabaseOption
    @Option(name: .long, help: "Stores.") var merchants = 300
    @Option(name: .long, help: "Riders.") var riders = 200
    @Option(name: .long, help: "The city's name.") var city = "Shanghai (demo)"
    @Option(name: .long, help: "Generator seed: the same seed gives the same city.") var seed: UInt64 = 2026
    @Option(name: .long, help: "Also write the stores as JSON lines to this file.") var export: String?

    func run() async throws {
        guard (1...3_000_000).contains(merchants) else { throw ValidationError("--merchants takes 1…3000000") }
        guard (0...1_000_000).contains(riders) else { throw ValidationError("--riders takes 0…1000000") }
        var logger = Logger(label: "lantern.seed")
        logger.logLevel = .warning
        let definition = CityDefinition(name: city, merchants: merchants, riders: riders, seed: seed)
        let opened = try openStore(try database.location(), logger: logger)
        try await opened.whileRunning(logger: logger) { try await definition.save(to: opened.store) }
        print("seeded \(city): \(merchants) stores, \(riders) riders, seed \(seed)")
        guard let export else { return }
        FileManager.default.createFile(atPath: export, contents: nil)
        guard let file = FileHandle(forWritingAtPath: export) else { throw ValidationError("cannot write \(export)") }
        defer { try? file.close() }
        var buffer = ""
        for store in definition.stores {
            buffer += CityDefinition.jsonLine(store) + "\n"
            if buffer.utf8.count > 1 << 20 {
                file.write(Data(buffer.utf8))
                buffer = ""
            }
        }
        file.write(Data(buffer.utf8))
        print("wrote \(merchants) stores to \(export)")
    }
}

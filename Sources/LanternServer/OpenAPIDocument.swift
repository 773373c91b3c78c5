import Foundation

/// `openapi.yaml`, the contract of every public route, shipped as a resource of this module.
public enum OpenAPIDocument {
    /// The document's bytes, read from the resource once.
    public static func bytes() throws -> [UInt8] { try loaded.get() }

    private static let loaded = Result<[UInt8], any Error> {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw CocoaError(.fileNoSuchFile)
        }
        return Array(try Data(contentsOf: url))
    }
}

import Foundation

/// `openapi.yaml`, the contract of every public route, shipped as a resource of this module.
public enum OpenAPIDocument {
    /// The document's bytes.
    public static func bytes() throws -> [UInt8] {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw CocoaError(.fileNoSuchFile)
        }
        return Array(try Data(contentsOf: url))
    }
}

import Foundation
import Hummingbird

/// JSON reading and writing for the API: snake_case keys are spelled out in each type,
/// timestamps are RFC 3339 in UTC, bodies are size-limited.
public enum JSONBody {
    /// Largest request body accepted, in bytes.
    public static let maxBodyBytes = 64 * 1024

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// Encodes `value` as a JSON response.
    public static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: encoded(value))))
    }

    /// `value` as JSON bytes (`{}` should it not encode).
    static func encoded(_ value: some Encodable) -> [UInt8] {
        (try? encoder.encode(value)).map { Array($0) } ?? Array("{}".utf8)
    }

    /// Reads the whole body (up to `maxBodyBytes`).
    public static func bytes(of request: Request) async throws -> [UInt8] {
        do {
            let buffer = try await request.body.collect(upTo: maxBodyBytes)
            return Array(buffer.readableBytesView)
        } catch {
            throw APIError(.contentTooLarge, "body_too_large", "the request body must be at most \(maxBodyBytes) bytes")
        }
    }

    /// Decodes a body, answering 400 for broken JSON and 422 for a wrong shape.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        do {
            return try decoder.decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw translate(error)
        }
    }

    private static func translate(_ error: DecodingError) -> APIError {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return .malformedJSON(context.debugDescription)
        case .dataCorrupted(let context):
            return APIError(
                .unprocessableContent, "invalid_field", "\(path(context.codingPath)): \(context.debugDescription)")
        case .keyNotFound(let key, let context):
            return APIError(
                .unprocessableContent, "missing_field", "missing field '\(path(context.codingPath + [key]))'")
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return APIError(
                .unprocessableContent, "invalid_field",
                "\(field.isEmpty ? "body" : field) must be \(String(describing: type))")
        @unknown default:
            return .malformedJSON("\(error)")
        }
    }
}

import NIOCore
import PostgresNIO

/// Array columns read straight from PostgreSQL's binary form, in one pass over the bytes.
/// PostgresNIO decodes an array element by element, each through a generic decoder and a buffer
/// slice of its own; over the report's two million cards that was 12 % of the report's CPU.
/// Only what the report's pages hold is read: one-dimensional arrays of `int2`, `int4`, `int8`,
/// `text` or `bytea` without NULLs; anything else is refused. The tests hold these readers to
/// PostgresNIO's own decoding of the same columns.
enum PostgresBinaryArray {
    /// A column that is not such an array.
    struct Malformed: Error, CustomStringConvertible {
        var description: String { "an array column is not a one-dimensional array without NULLs of the expected type" }
    }

    /// An `int8[]` column.
    static func int64s(_ buffer: ByteBuffer) throws -> [Int64] {
        try elements(buffer, of: .int8) { $0.count == 8 ? Int64(bigEndian: $0.loadUnaligned(as: Int64.self)) : nil }
    }

    /// An `int4[]` column.
    static func int32s(_ buffer: ByteBuffer) throws -> [Int32] {
        try elements(buffer, of: .int4) { $0.count == 4 ? Int32(bigEndian: $0.loadUnaligned(as: Int32.self)) : nil }
    }

    /// An `int2[]` column.
    static func int16s(_ buffer: ByteBuffer) throws -> [Int16] {
        try elements(buffer, of: .int2) { $0.count == 2 ? Int16(bigEndian: $0.loadUnaligned(as: Int16.self)) : nil }
    }

    /// A `text[]` column, each element's UTF-8 bytes handed to `transform` where they lie.
    static func texts<Element>(_ buffer: ByteBuffer, _ transform: (UnsafeRawBufferPointer) throws -> Element) throws -> [Element] {
        try elements(buffer, of: .text, transform)
    }

    /// A `bytea[]` column, each element's bytes handed to `transform` where they lie.
    static func byteas<Element>(_ buffer: ByteBuffer, _ transform: (UnsafeRawBufferPointer) throws -> Element) throws -> [Element] {
        try elements(buffer, of: .bytea, transform)
    }

    /// The header (dimensions, NULL flag, element type, length, lower bound), then each element
    /// as a length and its bytes, handed to `read`.
    private static func elements<Element>(
        _ buffer: ByteBuffer, of type: PostgresDataType, _ read: (UnsafeRawBufferPointer) throws -> Element?
    ) throws -> [Element] {
        try buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            func int32() throws -> Int32 {
                guard offset + 4 <= bytes.count else { throw Malformed() }
                defer { offset += 4 }
                return Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self))
            }
            let dimensions = try int32()
            let hasNulls = try int32()
            let elementType = UInt32(bitPattern: try int32())
            guard dimensions == 0 || dimensions == 1, hasNulls == 0, elementType == type.rawValue else { throw Malformed() }
            guard dimensions == 1 else {
                guard offset == bytes.count else { throw Malformed() }
                return []
            }
            let count = try int32()
            _ = try int32()
            guard count >= 0, Int(count) <= bytes.count / 4 else { throw Malformed() }
            var result: [Element] = []
            result.reserveCapacity(Int(count))
            for _ in 0..<count {
                let length = Int(try int32())
                guard length >= 0, length <= bytes.count - offset,
                    let element = try read(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)]))
                else { throw Malformed() }
                result.append(element)
                offset += length
            }
            guard offset == bytes.count else { throw Malformed() }
            return result
        }
    }
}

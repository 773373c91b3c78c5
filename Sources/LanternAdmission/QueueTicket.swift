import Crypto

/// A place in a campaign's waiting room, signed so it cannot be forged or handed to someone else.
///
/// The server keeps counters, not a row per waiting user: everything it needs to answer for
/// a ticket is inside it.
public struct QueueTicket: Sendable, Equatable {
    /// Campaign the ticket queues for.
    public var campaign: String
    /// User it belongs to; nobody else may use it.
    public var user: String
    /// Order of arrival: the ticket's sequence number.
    public var sequence: UInt64
    /// When it was issued, milliseconds since 1970.
    public var issuedAtMs: Int64
    /// Issued before the campaign started: its place is drawn at random at the start.
    public var preQueue: Bool
    /// The proof of work it is honoured with (`QueuePuzzle`), as the operator set it when the
    /// ticket was issued; 0 for none.
    public var proofBits: Int

    /// Creates a ticket.
    public init(campaign: String, user: String, sequence: UInt64, issuedAtMs: Int64, preQueue: Bool, proofBits: Int = 0) {
        self.campaign = campaign
        self.user = user
        self.sequence = sequence
        self.issuedAtMs = issuedAtMs
        self.preQueue = preQueue
        self.proofBits = proofBits
    }
}

/// Why a ticket was refused.
public enum QueueTicketError: Error, Sendable, Equatable {
    /// Not a ticket at all, or damaged.
    case malformed
    /// The signature does not match: forged or altered.
    case forged
    /// Issued to another user or for another campaign.
    case notYours
    /// Older than tickets may be.
    case expired
}

/// Signs and checks queue tickets with HMAC-SHA256.
public struct QueueTicketSigner: Sendable {
    private let key: SymmetricKey
    /// Oldest a ticket may be, in milliseconds.
    public let maxAgeMs: Int64

    /// Creates a signer; `secret` must stay the same across restarts for tickets to survive them.
    public init(secret: String, maxAgeMs: Int64 = 24 * 3_600 * 1_000) {
        var hash = SHA256()
        hash.update(data: Array("lantern-queue-ticket:".utf8) + Array(secret.utf8))
        key = SymmetricKey(data: Array(hash.finalize()))
        self.maxAgeMs = maxAgeMs
    }

    /// The ticket as text: `payload.signature`, both base64url. A ticket with a puzzle is of
    /// the second version, which carries its difficulty.
    public func sign(_ ticket: QueueTicket) -> String {
        let fields = "\(ticket.campaign)|\(ticket.user)|\(ticket.sequence)|\(ticket.issuedAtMs)|\(ticket.preQueue ? 1 : 0)"
        let payload = Array((ticket.proofBits > 0 ? "2|\(fields)|\(ticket.proofBits)" : "1|\(fields)").utf8)
        return Base64URL.encode(payload) + "." + Base64URL.encode(mac(payload))
    }

    /// Reads and checks a ticket presented by `user` for `campaign` at `nowMs`.
    public func verify(_ text: String, user: String, campaign: String, nowMs: Int64) throws(QueueTicketError)
        -> QueueTicket
    {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let payload = Base64URL.decode(Array(parts[0].utf8)[...]),
            let signature = Base64URL.decode(Array(parts[1].utf8)[...])
        else { throw .malformed }
        guard signature.count == 16, constantTimeEqual(signature, mac(payload)) else { throw .forged }
        let fields = String(decoding: payload, as: UTF8.self).split(separator: "|", omittingEmptySubsequences: false)
        let proofBits = fields.count == 7 && fields[0] == "2" ? Int(fields[6]) : 0
        guard fields.count == 6 && fields[0] == "1" || fields.count == 7 && fields[0] == "2", let proofBits,
            (0...QueuePuzzle.maxBits).contains(proofBits), let sequence = UInt64(fields[3]),
            let issuedAt = Int64(fields[4]), fields[5] == "0" || fields[5] == "1"
        else { throw .malformed }
        let ticket = QueueTicket(
            campaign: String(fields[1]), user: String(fields[2]), sequence: sequence, issuedAtMs: issuedAt,
            preQueue: fields[5] == "1", proofBits: proofBits)
        guard ticket.user == user, ticket.campaign == campaign else { throw .notYours }
        guard nowMs - ticket.issuedAtMs <= maxAgeMs else { throw .expired }
        return ticket
    }

    private func mac(_ payload: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: payload, using: key).prefix(16))
    }

    private func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

/// Base64url without padding, as JWTs and tickets use it.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let table: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = UInt8(index) }
        return table
    }()

    /// Encodes bytes.
    public static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count * 4 + 2) / 3)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 6 {
                bits -= 6
                output.append(alphabet[Int((buffer >> UInt32(bits)) & 0x3F)])
            }
        }
        if bits > 0 { output.append(alphabet[Int((buffer << UInt32(6 - bits)) & 0x3F)]) }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes text; nil when it is not base64url.
    public static func decode(_ input: ArraySlice<UInt8>) -> [UInt8]? {
        input.withUnsafeBufferPointer { input in
            var decoded: Int?
            let output = [UInt8](unsafeUninitializedCapacity: maxDecodedCount(input.count)) { buffer, count in
                decoded = decode(input, into: buffer)
                count = decoded ?? 0
            }
            return decoded == nil ? nil : output
        }
    }

    /// The most bytes `characters` characters of base64url decode to.
    public static func maxDecodedCount(_ characters: Int) -> Int { characters * 3 / 4 }

    /// Decodes text into `output`, which holds at least `maxDecodedCount(input.count)` bytes;
    /// the number of bytes written, nil when the text is not base64url.
    public static func decode(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int? {
        precondition(output.count >= maxDecodedCount(input.count), "output too small for the decoded bytes")
        return table.withUnsafeBufferPointer { table in
            var written = 0
            var buffer: UInt32 = 0
            var bits = 0
            for char in input {
                let value = table[Int(char)]
                guard value != 0xFF else { return nil }
                buffer = buffer << 6 | UInt32(value)
                bits += 6
                if bits >= 8 {
                    bits -= 8
                    output[written] = UInt8(truncatingIfNeeded: buffer >> UInt32(bits))
                    written += 1
                }
            }
            return bits >= 6 ? nil : written
        }
    }
}

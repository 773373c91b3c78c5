import Crypto
import LanternLedger

extension ClaimRequest {
    /// What makes two claims "the same request", over HTTP and from the assistant's tools:
    /// SHA-256 of the campaign, a zero byte, and the referral code (after a one byte) if any.
    package static func digest(campaign: String, referralCode: String?) -> BodyDigest {
        var hasher = SHA256()
        func feed(_ text: String) {
            var text = text
            text.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        }
        func feed(_ byte: UInt8) {
            withUnsafeBytes(of: byte) { hasher.update(bufferPointer: $0) }
        }
        feed(campaign)
        feed(0)
        if let code = referralCode {
            feed(1)
            feed(code)
        }
        return hasher.finalize().withUnsafeBytes { bytes in
            func word(_ offset: Int) -> UInt64 {
                bytes[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) }
            }
            return BodyDigest(high: word(0), low: word(8))
        }
    }
}

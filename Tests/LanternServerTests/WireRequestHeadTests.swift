import Foundation
import NIOCore
import Testing

@testable import LanternServer
@testable import LanternWire

/// The request-head reader the claim fast path works from: what it reads, and what it leaves to
/// the full HTTP decoder.
@Suite("Request heads read from the wire")
struct WireRequestHeadTests {
    private static let claim =
        "POST /v1/campaigns/spring/claims HTTP/1.1\r\nHost: localhost\r\nauthorization: Bearer abc.def.ghi\r\n"
        + "IDEMPOTENCY-KEY:  k-1 \r\nQueue-Ticket: t\r\nContent-Length: 2\r\n\r\n{}"

    private func read(_ text: String) -> WireRequestHead.Reading {
        WireRequestHead.read(ByteBuffer(string: text))
    }

    @Test("a claim's head: its length, body length and fields, names in any case, values trimmed")
    func readsAClaimHead() throws {
        guard case .head(let head) = read(Self.claim) else {
            Issue.record("not read")
            return
        }
        #expect(head.length == Self.claim.utf8.count - 2)
        #expect(head.method == "POST")
        #expect(head.target == "/v1/campaigns/spring/claims")
        #expect(head.contentLength == 2)
        #expect(head.authorization == "Bearer abc.def.ghi")
        #expect(head.idempotencyKey == "k-1")
        #expect(head.queueTicket == "t")
        #expect(!head.closesConnection && !head.expects && !head.repeatsAField)
    }

    @Test("every prefix of a head is incomplete, not wrong")
    func prefixesAreIncomplete() {
        let head = Self.claim.dropLast(2)
        for length in 0..<head.utf8.count {
            #expect(read(String(head.utf8.prefix(length))!) == .incomplete, "prefix of \(length) bytes")
        }
    }

    @Test("Connection: close, Expect and a field sent twice are noted")
    func notesWhatAFastAnswerCannotHonour() throws {
        func head(_ extra: String) -> WireRequestHead? {
            if case .head(let head) = read("GET / HTTP/1.1\r\n\(extra)\r\n") { return head }
            return nil
        }
        #expect(head("Connection: keep-alive, Close\r\n")?.closesConnection == true)
        #expect(head("Connection: keep-alive\r\n")?.closesConnection == false)
        #expect(head("Expect: 100-continue\r\n")?.expects == true)
        #expect(head("Authorization: a\r\nAuthorization: b\r\n")?.repeatsAField == true)
        #expect(head("")?.contentLength == 0)
    }

    @Test(
        "heads it cannot read with certainty are left to the full decoder",
        arguments: [
            "GET / HTTP/1.0\r\n\r\n",
            "GET /  HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\rHost: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\u{7F}b\r\n\r\n",
        ])
    func leavesTheRest(_ text: String) {
        #expect(read(text) == .unsupported)
    }

    @Test("the search for a head's end resumes where it stopped, wherever the pieces are cut")
    func findsTheEndAcrossPieces() {
        let head = Array(Self.claim.utf8.dropLast(2))
        #expect(WireRequestHead.findEnd(ByteBuffer(bytes: head), searchedBytes: 0) == .found(length: head.count))
        for cut in [head.count - 1, head.count - 2, head.count - 3, head.count - 4, 10] {
            var searched = 0
            for end in [cut, head.count] {
                switch WireRequestHead.findEnd(ByteBuffer(bytes: head[..<end]), searchedBytes: searched) {
                case .notYet(let count):
                    #expect(end == cut, "cut at \(cut): not found with the whole head")
                    searched = count
                case .found(let length):
                    #expect(end == head.count && length == head.count, "cut at \(cut)")
                case .malformed:
                    Issue.record("cut at \(cut): malformed")
                }
            }
        }
        #expect(WireRequestHead.findEnd(ByteBuffer(string: "GET / HTTP/1.1\nHost: x\n\n"), searchedBytes: 0) == .malformed)
        #expect(WireRequestHead.findEnd(ByteBuffer(string: "GET / HTTP/1.1\rHost"), searchedBytes: 0) == .malformed)
        #expect(WireRequestHead.findEnd(ByteBuffer(string: "GET / HTTP/1.1\r"), searchedBytes: 0) == .notYet(searched: 15))
    }

    @Test("a head that has not ended within the limit is left to the full decoder")
    func longHeadsAreLeft() {
        let long = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: WireRequestHead.maxLength)
        #expect(read(long) == .unsupported)
    }

    @Test("the Date header's format, checked against Foundation's formatter")
    func formatsHTTPDates() {
        #expect(HTTPDate.format(secondsSince1970: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(secondsSince1970: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(secondsSince1970: 951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let seconds = Int64.random(in: 0...4_102_444_800, using: &generator)
            #expect(
                HTTPDate.format(secondsSince1970: seconds)
                    == formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds))))
        }
    }
}

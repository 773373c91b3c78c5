import LanternAdmission

extension QueuePlace {
    /// The answer to a claim sent to the waiting room: `{"status":"queued","ticket",…}`.
    func queuedAnswer() -> JSONWriter {
        var json = JSONWriter()
        json.beginObject()
        json.field("status", "queued")
        json.field("ticket", ticket)
        if rejoined { json.field("rejoined", true) }
        write(into: &json)
        json.endObject()
        return json
    }

    /// The fields of a place: position, estimated wait, admitted, validity, when to ask again,
    /// how often one must ask to keep the place, and the puzzle when there is one.
    func write(into json: inout JSONWriter) {
        // Holders are told to ask at least three times within the presence window.
        let longestPoll = min(30, (presenceWindow ?? 90) / 3)
        switch status {
        case .waitingForStart(let startsIn):
            json.field("admitted", false)
            json.field("position", Int64(-1))
            json.field("estimated_wait_s", Int64(startsIn.rounded(.up)))
            json.field("poll_after_s", Int64(max(1, min(longestPoll, (startsIn / 2).rounded(.up)))))
        case .waiting(let position, let wait, let leftAhead):
            json.field("admitted", false)
            json.field("position", Int64(clamping: position))
            json.field("estimated_wait_s", Int64(wait.rounded(.up)))
            json.field("left_ahead", Int64(clamping: leftAhead))
            json.field("poll_after_s", Int64(max(1, min(longestPoll, (wait / 3).rounded(.up)))))
        case .admitted(let validFor):
            json.field("admitted", true)
            json.field("position", Int64(0))
            json.field("estimated_wait_s", Int64(0))
            json.field("admission_valid_for_s", Int64(validFor.rounded(.down)))
        case .lapsed:
            json.field("admitted", false)
            json.field("lapsed", true)
        case .skipped:
            json.field("admitted", false)
            json.field("skipped", true)
            json.field("message", "your turn came while you were away; claim again to rejoin at the back")
        }
        if let presenceWindow { json.field("presence_window_s", Int64(presenceWindow.rounded(.down))) }
        if proofBits > 0 {
            json.beginObject("puzzle")
            json.field("algorithm", "sha256")
            json.field("bits", Int64(proofBits))
            json.field("challenge", ticket)
            json.field("solution", "a nonce: SHA-256 of challenge + ':' + nonce starts with `bits` zero bits; send it as Queue-Proof")
            json.endObject()
        }
    }
}

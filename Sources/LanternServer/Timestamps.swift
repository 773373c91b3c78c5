import Foundation

/// A UTC time broken into calendar fields, without a calendar or formatter object.
struct CivilTime: Equatable {
    var year: Int64
    var month: Int64
    var day: Int64
    var hour: Int64
    var minute: Int64
    var second: Int64
    /// 0 is Sunday.
    var weekday: Int64

    /// The fields of a time in whole seconds since 1970.
    init(secondsSince1970 seconds: Int64) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Civil-from-days (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        hour = secondOfDay / 3_600
        minute = secondOfDay / 60 % 60
        second = secondOfDay % 60
        // 1970-01-01 was a Thursday.
        weekday = ((days + 4) % 7 + 7) % 7
    }

    /// Two digits, zero-padded.
    static func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
}

/// RFC 3339 timestamps in UTC without a formatter object.
enum RFC3339 {
    /// `YYYY-MM-DDTHH:MM:SSZ` for `date`, truncated to the second.
    static func format(_ date: Date) -> String {
        var bytes: [UInt8] = []
        append(date, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `format(date)`'s bytes, digit by digit, with no intermediate strings.
    static func append(_ date: Date, to bytes: inout [UInt8]) {
        let time = CivilTime(secondsSince1970: Int64((date.timeIntervalSince1970).rounded(.down)))
        func digits(_ number: Int64, _ count: Int) {
            var divisor: Int64 = 1
            for _ in 1..<count { divisor *= 10 }
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(number / divisor % 10))
                divisor /= 10
            }
        }
        if (0...9_999).contains(time.year) {
            digits(time.year, 4)
        } else {
            bytes.append(contentsOf: String(time.year).utf8)
        }
        let parts: [(Unicode.Scalar, Int64)] = [
            ("-", time.month), ("-", time.day), ("T", time.hour), (":", time.minute), (":", time.second),
        ]
        for (separator, number) in parts {
            bytes.append(UInt8(ascii: separator))
            digits(number, 2)
        }
        bytes.append(UInt8(ascii: "Z"))
    }
}

/// The HTTP `Date` header's format (RFC 9110 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`).
enum HTTPDate {
    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The header value for a time in whole seconds since 1970 (UTC).
    static func format(secondsSince1970 seconds: Int64) -> String {
        let time = CivilTime(secondsSince1970: seconds)
        let two = CivilTime.two
        return "\(weekdays[Int(time.weekday)]), \(two(time.day)) \(months[Int(time.month) - 1]) \(time.year) "
            + "\(two(time.hour)):\(two(time.minute)):\(two(time.second)) GMT"
    }
}

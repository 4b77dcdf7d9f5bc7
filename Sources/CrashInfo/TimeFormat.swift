/// Rendering of kernel times without Foundation.

/// `YYYY-MM-DD HH:MM:SS UTC` for `seconds` since the Epoch (proleptic Gregorian calendar).
/// Times beyond year 9999 (or before year -9999) are written as the number of seconds: the value
/// comes from the dump, and the date arithmetic must not overflow.
public func formatUTC(seconds: Int64) -> String {
    guard seconds >= -377_705_116_800, seconds <= 253_402_300_799 else { return "\(seconds) s since the Epoch (out of range)" }
    let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
    let secondOfDay = seconds - days * 86400
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let mp = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(year)-\(two(month))-\(two(day)) \(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) UTC"
}

/// `1d2h3m4s` as FreeBSD prints uptime (leading zero units left out; `0s` for zero).
public func formatDuration(seconds: Int64) -> String {
    guard seconds > 0 else { return "\(seconds)s" }  // Int64.min included: no negation
    var result = ""
    let parts: [(Int64, String)] = [(seconds / 86400, "d"), (seconds / 3600 % 24, "h"), (seconds / 60 % 60, "m")]
    for (value, unit) in parts where value > 0 || !result.isEmpty { result += "\(value)\(unit)" }
    return result + "\(seconds % 60)s"
}

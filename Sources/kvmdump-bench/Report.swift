/// The results table: figures with their targets, formatted in aligned text columns.

/// How a figure's numbers are shown.
enum FigureUnit: Sendable {
    /// Operations per second.
    case rate
    /// Seconds, shown as µs, ms or s.
    case seconds
    /// Bytes, shown in binary units.
    case bytes
    /// Bytes per second, shown in GB/s (10^9).
    case bytesPerSecond
    /// A speed or size ratio, shown as "N×".
    case ratio
    /// A fraction, shown as "1/N".
    case fraction
}

/// A goal from the issue, checked against a figure's median.
enum Target: Sendable {
    /// The median must be at least this.
    case atLeast(Double)
    /// The median must be at most this.
    case atMost(Double)

    /// True if `value` meets the target.
    func isMet(by value: Double) -> Bool {
        switch self {
        case .atLeast(let bound): value >= bound
        case .atMost(let bound): value <= bound
        }
    }

    /// "≥ 20.0 M/s", "≤ 50.0 ms", ...
    func text(_ unit: FigureUnit) -> String {
        switch self {
        case .atLeast(let bound): "≥ " + formatValue(bound, unit)
        case .atMost(let bound): "≤ " + formatValue(bound, unit)
        }
    }
}

/// One row of the table.
struct Figure: Sendable {
    /// What was measured.
    var name: String
    /// Which dump ("a", "b", "c").
    var dump: String
    /// How to show the numbers.
    var unit: FigureUnit
    /// One value per run.
    var samples: Samples
    /// The goal, if it sets one for this figure and dump.
    var target: Target?
    /// Whether the target was met; nil without a target.
    var met: Bool? { target.map { $0.isMet(by: samples.median) } }
}

/// `value` with exactly `digits` digits after the decimal point.
func formatFixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : "inf" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int64((abs(value) * scale).rounded())
    let whole = scaled / Int64(scale)
    let fraction = String(scaled % Int64(scale))
    let sign = value < 0 && scaled != 0 ? "-" : ""
    guard digits > 0 else { return sign + String(whole) }
    return sign + String(whole) + "." + String(repeating: "0", count: digits - fraction.count) + fraction
}

/// Three significant digits or so: 123, 12.3, 1.23.
func formatShort(_ value: Double) -> String {
    let magnitude = abs(value)
    return formatFixed(value, magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : 2)
}

/// `value` in `unit`, human-readable.
func formatValue(_ value: Double, _ unit: FigureUnit) -> String {
    switch unit {
    case .rate:
        if value >= 1e6 { return formatShort(value / 1e6) + " M/s" }
        if value >= 1e3 { return formatShort(value / 1e3) + " k/s" }
        return formatShort(value) + " /s"
    case .seconds:
        if value < 1e-3 { return formatShort(value * 1e6) + " µs" }
        if value < 1 { return formatShort(value * 1e3) + " ms" }
        return formatShort(value) + " s"
    case .bytes:
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var scaled = value
        var index = 0
        while scaled >= 1024 && index < units.count - 1 {
            scaled /= 1024
            index += 1
        }
        return (index == 0 ? formatFixed(scaled, 0) : formatShort(scaled)) + " " + units[index]
    case .bytesPerSecond:
        return formatShort(value / 1e9) + " GB/s"
    case .ratio:
        return formatShort(value) + "×"
    case .fraction:
        return value > 0 ? "1/" + formatShort(1 / value) : "0"
    }
}

/// The table: figure, dump, median, min, max, target, met?; columns aligned with spaces.
/// With `targetsApply` false (smoke dumps) the last column says "n/a".
func renderTable(_ figures: [Figure], targetsApply: Bool) -> String {
    var rows = [["figure", "dump", "median", "min", "max", "target", "met?"]]
    for figure in figures {
        let samples = figure.samples
        let exact = samples.values.count == 1
        rows.append([
            figure.name, figure.dump, formatValue(samples.median, figure.unit),
            exact ? "" : formatValue(samples.min, figure.unit), exact ? "" : formatValue(samples.max, figure.unit),
            figure.target?.text(figure.unit) ?? "",
            figure.met.map { targetsApply ? ($0 ? "yes" : "NO") : "n/a" } ?? "",
        ])
    }
    var widths = [Int](repeating: 0, count: rows[0].count)
    for row in rows {
        for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
    }
    let numeric: Set<Int> = [2, 3, 4]
    var lines: [String] = []
    for (number, row) in rows.enumerated() {
        var cells: [String] = []
        for (column, cell) in row.enumerated() {
            let padding = String(repeating: " ", count: widths[column] - cell.count)
            cells.append(numeric.contains(column) && number > 0 ? padding + cell : cell + padding)
        }
        var line = cells.joined(separator: "  ")
        while line.last == " " { line.removeLast() }
        lines.append(line)
        if number == 0 { lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
    }
    return lines.joined(separator: "\n") + "\n"
}

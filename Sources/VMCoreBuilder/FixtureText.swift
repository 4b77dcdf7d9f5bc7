// The text layout every thread fixture's kernel uses (amd64, arm64, riscv, i386).

/// A fixture kernel's text: `functions` (name, size, whether the symbol is a label) laid out in order
/// from `base`, each start 16-byte aligned, within `size` bytes. `what` ("arm64 ", or "" for amd64)
/// names the fixture in the traps a fixture bug hits (names and sizes are fixed at compile time).
struct FixtureText: Sendable {
    /// Start, size and label flag of every function.
    let layout: [String: (start: UInt64, size: Int, label: Bool)]
    private let what: String

    init(_ functions: [(String, Int, Bool)], base: UInt64, size: Int, what: String) {
        var out: [String: (UInt64, Int, Bool)] = [:]
        var at = base
        for (name, size, label) in functions {
            out[name] = (at, size, label)
            at += UInt64((size + 15) & ~15)
        }
        precondition(at <= base + UInt64(size), "\(what)thread kernel text overflows")
        layout = out
        self.what = what
    }

    /// The start of function `name`.
    func start(_ name: String) -> UInt64 {
        guard let f = layout[name] else { preconditionFailure("no \(what)fixture function \(name)") }
        return f.start
    }
}

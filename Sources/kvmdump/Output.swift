/// Standard output and the one place diagnostics are printed. The buffers themselves (`OutputBuffer`,
/// `LineReader`) are in MappedBytes, with the rest of the product's unsafe pointer code.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MappedBytes

/// Standard output plus the diagnostics channel: every error message of the tool goes through `diagnose`.
final class Console {
    /// Buffered standard output.
    let out = OutputBuffer(fd: 1)
    /// Warnings already printed by `warnOnce`.
    private var warned: Set<String> = []

    /// True once the reader of standard output has gone away (EPIPE): the tool then stops quietly.
    var readerGone: Bool { out.isClosed && out.failure == nil }

    /// Prints `kvmdump: message` on standard error, after flushing standard output so the two stay in order.
    /// Nothing is printed once the reader of standard output has gone: the rest of the work was not wanted.
    func diagnose(_ message: String) {
        out.flush()
        if readerGone { return }
        writeUnbuffered(2, "kvmdump: " + message + "\n")
    }

    /// `diagnose`, but each distinct message at most once per run.
    func warnOnce(_ message: String) {
        guard warned.insert(message).inserted else { return }
        diagnose(message)
    }

    /// Prints a usage error and the hint to read the help.
    func diagnose(_ error: UsageError) {
        diagnose(error.message)
        let help = error.command.map { "kvmdump \($0) --help" } ?? "kvmdump --help"
        writeUnbuffered(2, "Try '\(help)'.\n")
    }
}

/// Reads the environment variable `name`, if set.
func environment(_ name: String) -> String? {
    environmentValue(name)
}

/// Whether `path` names an existing file.
func fileExists(_ path: String) -> Bool {
    access(path, F_OK) == 0
}

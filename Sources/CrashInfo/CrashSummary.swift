/// The summary crashinfo(8) leads with, gathered from the dump, the kernel image and savecore's info file.
import KernelImage
import MinidumpCore

/// Where a summary value came from.
public enum FactSource: String, Sendable, Equatable {
    /// A kernel variable read from the dump through the kernel image's symbol table.
    case kernel
    /// A line of the message buffer.
    case messageBuffer = "msgbuf"
    /// savecore's `info.N` file.
    case infoFile = "info"
}

/// One value of the summary: either the value and its source, or why it is missing.
public struct Fact<Value: Sendable & Equatable>: Sendable, Equatable {
    /// The value, or nil.
    public let value: Value?
    /// Where the value came from (nil when missing).
    public let source: FactSource?
    /// Why the value is missing, or a remark about a value that was found (e.g. which symbol).
    public let note: String?

    /// A value found in `source`; `note` names the symbol or line.
    public static func found(_ value: Value, _ source: FactSource, _ note: String? = nil) -> Fact {
        Fact(value: value, source: source, note: note)
    }

    /// A missing value and the reason.
    public static func missing(_ reason: String) -> Fact { Fact(value: nil, source: nil, note: reason) }

    /// `self` if it has a value, else `other` if that has one, else `self` with both reasons.
    func or(_ other: @autoclosure () -> Fact) -> Fact {
        if value != nil { return self }
        let next = other()
        if next.value != nil { return next }
        switch (note, next.note) {
        case let (a?, b?): return .missing(a + "; " + b)
        case let (a, b): return .missing(a ?? b ?? "unknown")
        }
    }
}

/// A `struct timeval`: seconds and microseconds since the Epoch.
public struct TimeValue: Sendable, Equatable {
    /// `tv_sec`.
    public let seconds: Int64
    /// `tv_usec`.
    public let microseconds: Int64

    /// A time value.
    public init(seconds: Int64, microseconds: Int64) {
        self.seconds = seconds
        self.microseconds = microseconds
    }
}

/// The crash summary: what `kvmdump info` prints.
///
/// Kernel variables used (all read from the dump at their symbol's address): `panicstr`
/// (`const char *`), `version` (`char[]`), `hostname` (`char[256]`; in FreeBSD a macro for
/// `prison0.pr_hostname`, so a real kernel needs a `hostname` symbol or the value comes from
/// info.N), `osreldate` (`int`), `hz` (`int`), `boottime` (`struct timeval`: two words of the pointer size (64-bit; 32-bit on i386),
/// seconds and microseconds; current FreeBSD keeps the boot time in the timehands instead, so
/// without this symbol it is `time_second - time_uptime`), `time_second` and `time_uptime`
/// (`time_t`), `panic_cpu` (`int`, NOCPU = -1), `dumptid` (`lwpid_t`), `msgbufp`.
public struct CrashSummary: Sendable {
    /// The dump's path.
    public let dumpPath: String
    /// The dump's header.
    public let header: MinidumpHeader
    /// The dump's file size in bytes.
    public let fileSize: UInt64
    /// The file size the header's layout implies.
    public let expectedFileSize: UInt64
    /// Number of dumped physical pages.
    public let dataPages: UInt64
    /// The kernel image's path, if one was used.
    public let kernelPath: String?

    /// The panic message.
    public let panicString: Fact<String>
    /// The version string of the kernel that wrote the dump (trailing newline removed).
    public let version: Fact<String>
    /// The version string stored in the kernel image's `.data` (trailing newline removed).
    public let kernelImageVersion: Fact<String>
    /// Whether the kernel image is the kernel that wrote the dump; nil when it cannot be told.
    public let kernelMatches: Bool?
    /// How `kernelMatches` was decided, or why it could not be.
    public let kernelMatchBasis: String
    /// The host name.
    public let hostname: Fact<String>
    /// `osreldate` (`__FreeBSD_version` of the running kernel).
    public let osreldate: Fact<Int64>
    /// `hz`: clock ticks per second.
    public let hz: Fact<Int64>
    /// Boot time.
    public let bootTime: Fact<TimeValue>
    /// `time_second` at the dump (seconds since the Epoch, UTC).
    public let dumpTime: Fact<Int64>
    /// Uptime at the dump, in seconds.
    public let uptime: Fact<Int64>
    /// The CPU that panicked.
    public let panicCPU: Fact<Int64>
    /// `dumptid`: the thread id of the thread that wrote the dump.
    public let dumpThreadID: Fact<Int64>
    /// The process that was running, `PID (name)`, from the trap report in the message buffer.
    public let process: Fact<String>
    /// The crashing thread's name: never read (see `threadNameReason`).
    public let threadName: Fact<String>

    /// The message buffer and how it was found.
    public let messageBuffer: LocatedMessageBuffer
    /// The last lines of the message buffer (kernel lines, priorities removed).
    public let messageTail: [String]

    /// The info file's path, if one was looked for.
    public let infoPath: String?
    /// The parsed info file, if it was read.
    public let info: SavecoreInfo?
    /// Why there is no info file, if there is none.
    public let infoNote: String?

    /// Warnings a person must see (mismatched kernel, truncated dump, ...), most important first.
    public let warnings: [String]

    /// Why `threadName` is always missing.
    public static let threadNameReason =
        "needs struct thread field offsets (td_name), which come from the kernel's debug info (DWARF/CTF); not read"
    /// The warning printed when the kernel image does not match the dump.
    public static let mismatchWarning = "WARNING: kernel image version does not match the dump"

    /// Gathers the summary.
    ///
    /// - Parameters:
    ///   - dump: the dump.
    ///   - kernel: the kernel image, if one was given.
    ///   - info: the parsed info file, if one was read; `infoPath` its path; `infoNote` why there is none.
    ///   - tailLines: how many message-buffer lines to keep.
    public init(dump: Dump, kernel: KernelImage?, info: SavecoreInfo?, infoPath: String?, infoNote: String?,
                tailLines: Int = 20) {
        dumpPath = dump.path
        header = dump.header
        fileSize = dump.fileSize
        expectedFileSize = dump.layout.expectedFileSize
        dataPages = dump.dumpedPageCount
        kernelPath = kernel?.path
        self.info = info
        self.infoPath = infoPath
        self.infoNote = infoNote

        let located = locateMessageBuffer(dump: dump, kernel: kernel)
        messageBuffer = located
        let lines = MessageLines(located.buffer)
        messageTail = Array(lines.kernelLines.suffix(max(0, tailLines)))

        let memory = kernel.map { KernelMemory(kernel: $0, dump: dump) }
        let noKernel = "needs the kernel image (-N)"
        func read<T>(_ body: (KernelMemory) throws(VariableError) -> T) -> Fact<T> {
            guard let memory else { return .missing(noKernel) }
            do throws(VariableError) {
                return .found(try body(memory), .kernel)
            } catch {
                return .missing(error.description(width: dump.addressWidth))
            }
        }
        func text(_ bytes: [UInt8]) -> String { trimTrailingNewlines(String(decoding: bytes, as: UTF8.self)) }
        let fromInfo: (String?, String) -> Fact<String> = { value, field in
            guard let value else {
                return .missing(info == nil ? (infoNote ?? "no info file") : "no \(field) line in the info file")
            }
            return .found(trimTrailingNewlines(value), .infoFile, field)
        }

        let panicFromKernel: Fact<String> = {
            guard let memory else { return .missing(noKernel) }
            do throws(VariableError) {
                guard let bytes = try memory.stringPointer("panicstr") else {
                    return .missing("panicstr is NULL: the dump was not taken by a panic")
                }
                return .found(text(bytes), .kernel, "panicstr")
            } catch {
                return .missing(error.description(width: dump.addressWidth))
            }
        }()
        panicString = panicFromKernel
            .or(lines.panic.map { Fact.found($0, .messageBuffer, "last 'panic:' line") } ?? .missing("no 'panic:' line in the message buffer"))
            .or(fromInfo(info?.panicString, "Panic String"))

        let dumpVersion: Fact<String> = read { m throws(VariableError) in text(try m.charArray("version")) }
        version = dumpVersion
            .or(lines.version.map { Fact.found($0, .messageBuffer, "boot banner line") } ?? .missing("no version line in the message buffer"))
            .or(fromInfo(info?.versionString, "Version String"))

        if let kernel {
            kernelImageVersion = CrashSummary.imageVersion(kernel)
        } else {
            kernelImageVersion = .missing(noKernel)
        }
        (kernelMatches, kernelMatchBasis) = CrashSummary.compare(image: kernelImageVersion, dump: version)

        hostname = read { m throws(VariableError) in text(try m.charArray("hostname", maxLength: 256)) }
            .or(fromInfo(info?.hostname, "Hostname"))
        osreldate = read { m throws(VariableError) in Int64(Int32(bitPattern: try m.u32("osreldate"))) }
        hz = read { m throws(VariableError) in Int64(Int32(bitPattern: try m.u32("hz"))) }
        dumpTime = read { m throws(VariableError) in try m.long("time_second") }
        let uptimeFromKernel = read { m throws(VariableError) in try m.long("time_uptime") }
        uptime = uptimeFromKernel
            .or(lines.uptime.map { Fact.found($0, .messageBuffer, "'Uptime:' line") } ?? .missing("no 'Uptime:' line in the message buffer"))
        let bootFromKernel: Fact<TimeValue> = read { m throws(VariableError) in
            // Two `time_t`/`long` words: 8 bytes each, 4 on i386.
            let size = m.dump.pointerSize
            let words = try m.bytes("boottime", count: 2 * size)
            func word(_ at: Int) -> Int64 {
                let raw = words[at..<(at + size)].reversed().reduce(0) { $0 << 8 | UInt64($1) }
                return size == 4 ? Int64(Int32(truncatingIfNeeded: raw)) : Int64(bitPattern: raw)
            }
            return TimeValue(seconds: word(0), microseconds: word(size))
        }
        if bootFromKernel.value == nil, let now = dumpTime.value, let up = uptimeFromKernel.value {
            bootTime = .found(TimeValue(seconds: now &- up, microseconds: 0), .kernel, "time_second - time_uptime")
        } else {
            bootTime = bootFromKernel
        }
        panicCPU = read { m throws(VariableError) in Int64(Int32(bitPattern: try m.u32("panic_cpu"))) }
            .or(lines.panicCPU.map { Fact.found($0, .messageBuffer, "'cpuid =' line after the panic") } ?? .missing("no 'cpuid =' line after the panic in the message buffer"))
        dumpThreadID = read { m throws(VariableError) in Int64(Int32(bitPattern: try m.u32("dumptid"))) }
        process = lines.process.map { Fact.found($0, .messageBuffer, "'current process' line of the trap report") }
            ?? .missing("no 'current process' line in the message buffer")
        threadName = .missing(CrashSummary.threadNameReason)

        var warnings: [String] = []
        if kernelMatches == false {
            warnings.append(CrashSummary.mismatchWarning + " (" + kernelMatchBasis + ")")
        }
        if let kernel, let machine = machineMismatch(kernel: kernel, dump: dump) {
            warnings.append("WARNING: " + machine)
        }
        if let kernel, let short = kernelMapShortfall(kernel: kernel, dump: dump) {
            warnings.append("WARNING: " + short)
        }
        if let infoVersion = info?.versionString, let running = dumpVersion.value,
           firstLine(trimTrailingNewlines(infoVersion)) != firstLine(running) {
            warnings.append("WARNING: the info file's Version String does not match the dump: it may belong to another dump")
        }
        if dump.isTruncated {
            warnings.append("WARNING: the dump is truncated (\(dump.fileSize) of \(dump.layout.expectedFileSize) bytes): some values may be unreadable")
        }
        if case .section(let note?) = located.origin {
            warnings.append("note: " + note + "; using the msgbuf section")
        }
        self.warnings = warnings
    }

    /// The image's own `version` string (its initialised `.data`).
    static func imageVersion(_ kernel: KernelImage) -> Fact<String> {
        guard let symbol = kernel.symbol(named: "version"), symbol.isDefined else {
            return .missing("\(kernel.path): no symbol 'version'")
        }
        let limit = symbol.size > 0 ? Int(min(symbol.size, 4096)) : 4096
        do throws(KernelImageError) {
            let string = try kernel.cString(at: symbol.value, maxLength: limit)
            return .found(trimTrailingNewlines(string), .kernel, "version in the image")
        } catch {
            return .missing(error.description)
        }
    }

    /// Compares the image's version with the running kernel's: exactly when the dump's `version`
    /// was read, else by first line (the message buffer and info.N may hold only that).
    static func compare(image: Fact<String>, dump: Fact<String>) -> (Bool?, String) {
        guard let imageVersion = image.value else { return (nil, image.note ?? "no kernel image") }
        guard let running = dump.value else { return (nil, "the dump's version is unknown: " + (dump.note ?? "")) }
        switch dump.source {
        case .kernel?:
            return (imageVersion == running, "'version' in the dump vs the image")
        case .messageBuffer?:
            return (firstLine(imageVersion) == firstLine(running), "message buffer version line vs the image")
        default:
            return (firstLine(imageVersion) == firstLine(running), "info file Version String vs the image")
        }
    }
}

/// `text` without trailing newlines, carriage returns and NULs.
func trimTrailingNewlines(_ text: String) -> String {
    var result = Substring(text)
    while let last = result.last, last == "\n" || last == "\r\n" || last == "\r" || last == "\0" { result = result.dropLast() }
    return String(result)
}

/// The text up to the first newline.
func firstLine(_ text: String) -> String {
    String(text.prefix { $0 != "\n" && $0 != "\r\n" })
}

/// What the summary takes from the message buffer's lines.
struct MessageLines {
    /// Lines a kernel wrote (as `dmesg -M` prints them), oldest first.
    let kernelLines: [String]
    /// The text after the last `panic: `.
    let panic: String?
    /// The last boot banner line (`FreeBSD 14.1-RELEASE ...`).
    let version: String?
    /// The CPU in the first `cpuid = N` line after the last panic line.
    let panicCPU: Int64?
    /// `PID (name)` from the last `current process = ...` line.
    let process: String?
    /// Seconds from the last `Uptime: 1d2h3m4s` line.
    let uptime: Int64?

    init(_ buffer: MessageBuffer) {
        let text = String(decoding: buffer.dmesg(all: false), as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        kernelLines = lines
        var panic: String?
        var panicIndex: Int?
        var version: String?
        var process: String?
        var uptime: Int64?
        for (index, line) in lines.enumerated() {
            if line.hasPrefix("panic: ") {
                panic = String(line.dropFirst(7))
                panicIndex = index
            } else if line.hasPrefix("FreeBSD "), line.dropFirst(8).first?.isNumber == true {
                version = line
            } else if line.hasPrefix("current process"), let equals = line.firstIndex(of: "=") {
                process = String(line[line.index(after: equals)...].drop { $0 == " " || $0 == "\t" })
            } else if line.hasPrefix("Uptime: ") {
                uptime = MessageLines.duration(line.dropFirst(8))
            }
        }
        var cpu: Int64?
        if let panicIndex {
            for line in lines[(panicIndex + 1)...].prefix(4) where line.hasPrefix("cpuid = ") {
                cpu = Int64(line.dropFirst(8).prefix { $0.isASCII && $0.isNumber })
                break
            }
        }
        self.panic = panic
        self.version = version
        self.process = process
        self.uptime = uptime
        panicCPU = cpu
    }

    /// Seconds in `1d2h3m4s` (as FreeBSD's shutdown code prints uptime); nil if malformed or if the
    /// total does not fit in 64 bits (the text comes from the dump: checked arithmetic throughout).
    static func duration(_ text: Substring) -> Int64? {
        var total: Int64 = 0
        var number: Int64?
        for c in text.utf8 {
            if c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                number = (number ?? 0) * 10 + Int64(c - UInt8(ascii: "0"))
                guard number! < 1 << 40 else { return nil }
                continue
            }
            guard let value = number else { return nil }
            let unit: Int64
            switch c {
            case UInt8(ascii: "d"): unit = 86400
            case UInt8(ascii: "h"): unit = 3600
            case UInt8(ascii: "m"): unit = 60
            case UInt8(ascii: "s"): unit = 1
            default: return nil
            }
            let (seconds, overflow1) = value.multipliedReportingOverflow(by: unit)
            let (sum, overflow2) = total.addingReportingOverflow(seconds)
            guard !overflow1, !overflow2 else { return nil }
            total = sum
            number = nil
        }
        return number == nil && !text.isEmpty ? total : nil
    }
}

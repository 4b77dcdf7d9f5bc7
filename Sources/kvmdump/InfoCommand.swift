/// `kvmdump info`: the crash summary crashinfo(8) leads with.
import CompressedDump
import CrashInfo
import KernelImage
import KernelThreads
import MinidumpCore
import MappedBytes

/// Prints the panic, the kernel version (and whether the kernel image matches), host, times, the
/// panicking CPU and thread, the dump's layout, savecore's info file and the message buffer's tail.
struct InfoCommand: Subcommand {
    static let name = "info"
    static let abstract = "Summarise the crash: panic, version, host, times, thread, msgbuf tail."
    static let usage = "[--info-file PATH] [--lines N] [CORE...]"
    static let positionals = [Positional(name: "CORE", help: "The dump, instead of -M; several give one summary each (--json: one line each).")]
    static let infoFile = Option.value(
        "info-file", "PATH", help: "savecore's info file (default: info.N beside vmcore.N, if present).")
    static let lines = Option.value("lines", "N", help: "Message buffer lines to show (default 20, at most 10000).")
    static let options = [infoFile, lines]
    static let discussion = """
        With the kernel image (-N) kernel variables are read from the dump by symbol: panicstr, version,
        hostname, osreldate, hz, boottime, time_second, time_uptime, panic_cpu, dumptid, msgbufp. The
        image's own version string is compared with the dump's; a mismatch is reported as
        'WARNING: kernel image version does not match the dump' on standard error and in the output.
        Without -N, the panic, version, uptime, CPU and process come from the message buffer and the
        hostname from the info file; fields that cannot be found say why. Without -N a compressed dump
        not yet in the cache is decoded only through its metadata: its size is the one the stream states
        (gzip's ISIZE when it agrees with the header), else the layout line says it is not known.
        With -N and a kernel that exports the struct offsets (FreeBSD 11 and later), the crashed thread
        (td_tid == dumptid) is named, its top frames are shown (all of them: kvmdump bt), and a crash
        signature is made: the panic string (0x... numbers and decimal runs of 5 or more digits replaced)
        and the first 3 functions after the panic machinery (panic, vpanic, doadump, kern_reboot,
        trap, trap_fatal, trap_pfault, calltrap, kdb_*, db_*, ...), as address-free text, and its
        FNV-1a 64-bit hash for grouping dumps by cause.
        """

    let shared: SharedOptions
    let infoPath: String?
    let tailLines: Int
    /// Several dumps given as arguments (one summary each); empty for the usual single dump.
    let cores: [String]

    init(_ arguments: ParsedArguments, shared: SharedOptions) throws(UsageError) {
        let positionals = arguments.positionals
        if positionals.count > 1 {
            guard arguments.value(SharedOptions.core) == nil else { throw UsageError("-M and several dumps given") }
            guard arguments.value(Self.infoFile) == nil else { throw UsageError("--info-file names one dump's info file; give one dump") }
            cores = positionals
            self.shared = shared
        } else {
            cores = []
            self.shared = try SharedOptions(arguments, positionalCore: positionals.first)
        }
        infoPath = arguments.value(Self.infoFile)
        if let text = arguments.value(Self.lines) {
            guard let value = ValueParser.address(text), value <= 10000 else {
                throw UsageError("malformed line count '\(text)' (0 to 10000)")
            }
            tailLines = Int(value)
        } else {
            tailLines = 20
        }
    }

    func run(_ console: Console) throws(CommandFailure) -> ExitStatus {
        let kernel = try shared.openKernel()
        // Without a kernel image only the metadata is read: a compressed dump is decoded no further.
        let access: DumpAccess = kernel == nil ? .metadata : .pages
        guard !cores.isEmpty else {
            let opened = try SharedOptions.openDumpFile(at: shared.corePath, console, access: access)
            return try summarise(try shared.withKernelTables(opened.dump), sizeUnknown: opened.metadataOnly?.sizeUnknown, kernel: kernel, console)
        }
        // Several dumps: one summary each (JSON: one line each), failures reported and skipped.
        var failed = false
        for (i, path) in cores.enumerated() {
            if console.out.isClosed { break }
            if i > 0 && !shared.json { console.out.line() }
            do throws(CommandFailure) {
                let opened = try SharedOptions.openDumpFile(at: path, console, access: access)
                _ = try summarise(try shared.withKernelTables(opened.dump), sizeUnknown: opened.metadataOnly?.sizeUnknown,
                                  kernel: kernel, console)
            } catch {
                console.diagnose(error.message)
                failed = true
            }
        }
        return failed ? .failure : .success
    }

    /// - Parameter sizeUnknown: why the dump's size is not known (a compressed dump read from its
    ///   metadata only, whose stream does not state it), else nil.
    private func summarise(_ dump: Dump, sizeUnknown: String?, kernel: KernelImage?, _ console: Console) throws(CommandFailure) -> ExitStatus {
        var info: SavecoreInfo?
        var infoNote: String?
        let path = infoPath ?? SavecoreInfo.companionPath(forDump: dump.path)
        if let path {
            do {
                info = try SavecoreInfo.load(path: path)
            } catch {
                if infoPath != nil { throw CommandFailure(message: error.description) }
                infoNote = error.isMissing ? "no \(path) beside the dump" : error.description
            }
        } else {
            infoNote = "the dump's name does not follow savecore's vmcore.N, so there is no info.N to look for"
        }
        let summary = CrashSummary(dump: dump, kernel: kernel, info: info, infoPath: info == nil ? nil : path,
                                   infoNote: infoNote, tailLines: tailLines)
        let crash = CrashedThread(dump: dump, kernel: kernel, panicString: summary.panicString.value)
        if summary.kernelMatches == false {
            console.diagnose(CrashSummary.mismatchWarning)
        }
        let full = FullDumpLayout(dump)
        if shared.json {
            json(summary, crash, full, sizeUnknown, dump.addressWidth).writeLine(to: console.out)
        } else {
            writeText(summary, crash, full, sizeUnknown, dump.addressWidth, console.out)
        }
        return .success
    }

    // MARK: Text

    private func writeText(_ s: CrashSummary, _ crash: CrashedThread, _ full: FullDumpLayout?, _ sizeUnknown: String?,
                           _ width: AddressWidth, _ out: OutputBuffer) {
        for warning in s.warnings {
            out.line(warning)
            if warning.hasPrefix(CrashSummary.mismatchWarning) {
                out.line("  dump:   " + (s.version.value.map(firstLineOf) ?? "unknown"))
                out.line("  kernel: " + (s.kernelImageVersion.value.map(firstLineOf) ?? "unknown"))
            }
        }
        if !s.warnings.isEmpty { out.line() }
        var rows: [[String]] = []
        func row(_ label: String, _ value: String) { rows.append([label + ":", value]) }
        func fact<T>(_ label: String, _ f: Fact<T>, _ render: (T) -> String) {
            guard let value = f.value else {
                row(label, "- (" + (f.note ?? "unknown") + ")")
                return
            }
            switch f.source {
            case .messageBuffer?: row(label, render(value) + "  [from the message buffer]")
            case .infoFile?: row(label, render(value) + "  [from the info file]")
            default: row(label, render(value))
            }
        }
        let h = s.header
        row("dump", s.dumpPath)
        if let full {
            row("layout", "\(h.architecture) ELF full dump, \(s.fileSize) bytes, \(s.dataPages) pages in \(full.loads) PT_LOADs; "
                + full.tables)
        } else {
            let size = sizeUnknown.map { "size not known (\($0); without -N the stream is decoded only through its metadata)" }
                ?? "\(s.fileSize) bytes" + (s.fileSize < s.expectedFileSize ? " of \(s.expectedFileSize) (truncated)" : "")
            row("layout", "\(h.architecture) minidump v\(h.version), " + size
                + ", \(s.dataPages) data pages (msgbuf \(h.msgbufSize), bitmap \(h.bitmapSize), page-table map \(h.pageTableMapSize)"
                + (h.dumpAvailSize > 0 ? ", dump_avail \(h.dumpAvailSize)" : "") + " bytes)")
        }
        if let kernel = s.kernelPath {
            let verdict: String
            switch s.kernelMatches {
            case true?: verdict = "matches the dump"
            case false?: verdict = "DOES NOT MATCH the dump"
            case nil: verdict = "match unknown"
            }
            row("kernel", "\(kernel) (\(verdict): \(s.kernelMatchBasis))")
        } else {
            row("kernel", "none (-N not given): kernel variables cannot be read")
        }
        fact("panic", s.panicString) { $0 }
        fact("version", s.version, firstLineOf)
        fact("hostname", s.hostname) { $0 }
        fact("osreldate", s.osreldate) { String($0) }
        fact("hz", s.hz) { String($0) }
        fact("boot time", s.bootTime) { t in
            "\(formatUTC(seconds: t.seconds)) (\(t.seconds).\(sixDigits(t.microseconds)))"
        }
        fact("dump time", s.dumpTime) { "\(formatUTC(seconds: $0)) (\($0))" }
        fact("uptime", s.uptime) { "\(formatDuration(seconds: $0)) (\($0) s)" }
        fact("panic cpu", s.panicCPU) { $0 == -1 ? "none (NOCPU)" : String($0) }
        fact("dump tid", s.dumpThreadID) { String($0) }
        fact("process", s.process) { $0 }
        if let t = crash.thread {
            row("thread", "\(t.displayName), tid \(t.tid), pcb \(t.pcbSource)")
        } else {
            row("thread", "- (\(crash.note ?? CrashSummary.threadNameReason))")
        }
        if let sig = crash.signature {
            row("signature", sig.text)
            row("sig hash", sig.hash)
        } else {
            row("signature", "- (\(crash.note ?? "no crashed thread"))")
        }
        if let info = s.info, let path = s.infoPath {
            var parts: [String] = []
            if let time = info.dumpTime { parts.append("Dumptime \(time)") }
            if let status = info.status { parts.append("Dump Status \(status)") }
            if let length = info.dumpLength { parts.append("Dump Length \(length)") }
            if let device = info.device { parts.append("device \(device)") }
            row("info file", path + (parts.isEmpty ? "" : ": " + parts.joined(separator: ", ")))
        } else {
            row("info file", "- (" + (s.infoNote ?? "none") + ")")
        }
        let buffer = s.messageBuffer.buffer
        var how: String
        switch s.messageBuffer.origin {
        case .msgbufp(let pointer): how = "via msgbufp (\(Hex.address(pointer, width)))"
        case .section: how = "from the msgbuf section"
        }
        switch buffer.source {
        case .structure(let st): how += ", \(st.size) bytes, " + (buffer.wrapped ? "wrapped" : "not wrapped")
        case .fallback(let reason): how += ", positions unknown: \(reason)"
        }
        row("msgbuf", how)
        var table = Table()
        table.rows = rows
        table.write(to: out)
        out.line()
        if let bt = crash.backtrace {
            let shown = bt.frames.prefix(CrashedThread.topFrames)
            out.line("backtrace of the crashed thread (\(shown.count) of \(bt.frames.count) frames; all: kvmdump bt):")
            for f in shown {
                out.line("  #\(f.number) \(Hex.address(f.pc, width)) at \(f.location)")
                if let trap = f.trap { out.line("  " + trap.line) }
            }
            if shown.count == bt.frames.count { out.line("  stop: \(bt.stop.rawValue): \(bt.detail)") }
            out.line()
        }
        out.line("message buffer (last \(s.messageTail.count) lines):")
        for line in s.messageTail { out.line("  " + line) }
    }

    // MARK: JSON

    private func json(_ s: CrashSummary, _ crash: CrashedThread, _ full: FullDumpLayout?, _ sizeUnknown: String?,
                      _ width: AddressWidth) -> JSON {
        let h = s.header
        var info: JSON = .null
        if let i = s.info, let path = s.infoPath {
            info = .object([
                ("path", .string(path)), ("device", .optional(i.device, JSON.string)),
                ("architecture", .optional(i.architecture, JSON.string)),
                ("architecture_version", .optional(i.architectureVersion) { .uint(UInt64($0)) }),
                ("dump_length", .optional(i.dumpLength, JSON.uint)),
                ("blocksize", .optional(i.blockSize) { .uint(UInt64($0)) }),
                ("compression", .optional(i.compression, JSON.string)), ("dumptime", .optional(i.dumpTime, JSON.string)),
                ("hostname", .optional(i.hostname, JSON.string)), ("magic", .optional(i.magic, JSON.string)),
                ("version_string", .optional(i.versionString, JSON.string)),
                ("panic_string", .optional(i.panicString, JSON.string)),
                ("dump_parity", .optional(i.parity) { .uint(UInt64($0)) }), ("bounds", .optional(i.bounds, JSON.int)),
                ("dump_status", .optional(i.status, JSON.string)),
                ("unrecognised_lines", .array(i.unrecognised.map(JSON.string))),
            ])
        }
        var msgbuf: [(String, JSON)] = []
        switch s.messageBuffer.origin {
        case .msgbufp(let pointer):
            msgbuf += [("via", .string("msgbufp")), ("msgbufp", .virtualAddress(pointer, width)), ("note", .null)]
        case .section(let note):
            msgbuf += [("via", .string("section")), ("msgbufp", .null), ("note", .optional(note, JSON.string))]
        }
        switch s.messageBuffer.buffer.source {
        case .structure: msgbuf.append(("fallback_reason", .null))
        case .fallback(let reason): msgbuf.append(("fallback_reason", .string(reason)))
        }
        msgbuf += [("wrapped", .bool(s.messageBuffer.buffer.wrapped)), ("tail", .array(s.messageTail.map(JSON.string)))]
        let dumpMembers: [(String, JSON)] = full.map { full in
            [
                ("path", .string(s.dumpPath)), ("architecture", .string(h.architecture)), ("format", .string("elf_full_dump")),
                ("file_size", .uint(s.fileSize)), ("data_pages", .uint(s.dataPages)), ("pt_loads", .uint(UInt64(full.loads))),
                ("kernel_tables", .string(full.tables)),
            ]
        } ?? [
            ("path", .string(s.dumpPath)), ("architecture", .string(h.architecture)), ("version", .uint(UInt64(h.version))),
            ("file_size", sizeUnknown == nil ? .uint(s.fileSize) : .null), ("expected_file_size", .uint(s.expectedFileSize)),
            ("truncated", sizeUnknown == nil ? .bool(s.fileSize < s.expectedFileSize) : .null), ("data_pages", .uint(s.dataPages)),
        ] + (sizeUnknown.map { [("size_unknown", JSON.string($0))] } ?? []) + h.fields.map { ($0.name, JSON.headerField($0, width)) }
        return .object([
            ("dump", .object(dumpMembers)),
            ("kernel", .optional(s.kernelPath, JSON.string)),
            ("kernel_version", fact(s.kernelImageVersion, JSON.string)),
            ("kernel_matches", .optional(s.kernelMatches, JSON.bool)),
            ("kernel_match_basis", .string(s.kernelMatchBasis)),
            ("panic", fact(s.panicString, JSON.string)),
            ("version", fact(s.version, JSON.string)),
            ("hostname", fact(s.hostname, JSON.string)),
            ("osreldate", fact(s.osreldate, JSON.int)),
            ("hz", fact(s.hz, JSON.int)),
            ("boot_time", fact(s.bootTime) { .object([("sec", .int($0.seconds)), ("usec", .int($0.microseconds))]) }),
            ("dump_time", fact(s.dumpTime, JSON.int)),
            ("uptime", fact(s.uptime, JSON.int)),
            ("panic_cpu", fact(s.panicCPU, JSON.int)),
            ("dump_tid", fact(s.dumpThreadID, JSON.int)),
            ("process", fact(s.process, JSON.string)),
            ("thread_name", crash.thread.map { t in
                JSON.object([("value", .string(t.name)), ("source", .string("kernel")),
                             ("note", .string("td_name of the thread whose td_tid is dumptid"))])
            } ?? .object([("value", .null), ("source", .null), ("note", .string(crash.note ?? CrashSummary.threadNameReason))])),
            ("crashed_thread", .optional(crash.thread) { .object(ThreadSupport.json($0, width)) }),
            ("backtrace", .optional(crash.backtrace) { bt in
                .object([
                    ("frames", .array(bt.frames.prefix(CrashedThread.topFrames).map { f in
                        .object([("number", .int(Int64(f.number))), ("pc", .virtualAddress(f.pc, width)), ("location", .string(f.location)),
                                 ("trap", .optional(f.trap) { .string($0.line) })])
                    })),
                    ("frame_count", .int(Int64(bt.frames.count))), ("stop", .string(bt.stop.rawValue)),
                ])
            }),
            ("signature", .optional(crash.signature) { sig in
                .object([("text", .string(sig.text)), ("hash", .string(sig.hash)), ("panic", .string(sig.panic)),
                         ("functions", .array(sig.functions.map(JSON.string)))])
            }),
            ("threads_note", .optional(crash.note, JSON.string)),
            ("info_file", info),
            ("info_note", .optional(s.infoNote, JSON.string)),
            ("msgbuf", .object(msgbuf)),
            ("warnings", .array(s.warnings.map(JSON.string))),
        ])
    }

    /// `{"value": ..., "source": "kernel"|"msgbuf"|"info"|null, "note": ...}`.
    private func fact<T>(_ f: Fact<T>, _ wrap: (T) -> JSON) -> JSON {
        .object([
            ("value", .optional(f.value, wrap)), ("source", .optional(f.source) { .string($0.rawValue) }),
            ("note", .optional(f.note, JSON.string)),
        ])
    }
}

private func firstLineOf(_ text: String) -> String { String(text.prefix { $0 != "\n" }) }

private func sixDigits(_ value: Int64) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, 6 - digits.count)) + digits
}

/// The crashed thread, its backtrace and the crash signature, when the kernel image allows them.
struct CrashedThread {
    /// Frames shown by `info` (the rest: `kvmdump bt`).
    static let topFrames = 12

    var thread: KernelThread?
    var backtrace: Backtrace?
    var signature: CrashSignature?
    /// Why they are missing.
    var note: String?

    init(dump: Dump, kernel: KernelImage?, panicString: String?) {
        guard let kernel else {
            note = "needs the kernel image (-N)"
            return
        }
        do throws(ThreadError) {
            let list = try kernelThreads(dump: dump, kernel: kernel)
            guard let crashed = list.crashed else {
                note = "no thread on allproc has td_tid == dumptid" + (list.dumpTID.map { " (\($0))" } ?? "")
                return
            }
            thread = crashed
            let bt = list.backtrace(crashed)
            backtrace = bt
            signature = CrashSignature(panicString: panicString, backtrace: bt)
        } catch {
            note = error.description(width: dump.addressWidth)
        }
    }
}

/// What `info` says about an ELF full dump's layout: its PT_LOADs and how its page tables were found.
private struct FullDumpLayout {
    let loads: Int
    let tables: String

    init?(_ dump: Dump) {
        guard dump.isFullDump, let tables = dump.kernelTables else { return nil }
        loads = dump.physicalRanges.count
        if let found = tables.tables {
            self.tables = "kernel page tables: PML4 \(Hex.short(found.pml4)), kernel at PA \(Hex.short(found.kernelPhysicalBase)), found by \(found.rule.rawValue)"
        } else {
            self.tables = "kernel page tables not found (-N not given)"
        }
    }
}

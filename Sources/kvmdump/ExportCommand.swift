/// `kvmdump export`: the dump as an ELF core for gdb and LLDB.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CoreExport
import KernelThreads
import MappedBytes
import MinidumpCore

/// Writes an ELF core with the kernel map, the direct map and one NT_PRSTATUS per thread.
struct ExportCommand: Subcommand {
    static let name = "export"
    static let abstract = "Write the dump as an ELF core that gdb and LLDB open (threads need -N)."
    static let usage = "-o OUT|- [--force] [--for gdb|lldb] [--offsets FILE]"
    static let output = Option.value("output", short: "o", "OUT", help: "The core to write; '-' for standard output.")
    static let force = Option.flag("force", help: "Overwrite OUT (and OUT.gdb) if they exist.")
    static let flavor = Option.value(
        "for", "DEBUGGER", help: "gdb (default: Linux-layout notes, read with 'set osabi GNU/Linux') or lldb (FreeBSD notes).")
    static let options = [output, force, flavor, ThreadSupport.offsets]
    static let discussion = """
        One PT_LOAD per run of kernel-map pages contiguous in virtual address, physical address and
        file (p_vaddr = KVA, p_paddr = PA), and one per run of dumped physical pages at their
        direct-map addresses; both point at the single copy of the page's bytes. Pages the dump does
        not hold have no segment, so the debuggers report them unreadable; zero pages are holes in a
        regular file. More than 65,534 segments use PN_XNUM. Notes: one NT_PRSTATUS per thread from
        its pcb (amd64 rip, rsp, rbp, rbx, r12-r15; arm64 pc, sp, fp, lr, x19-x28; i386 eip, esp, ebp,
        ebx, esi, edi; riscv pc, ra, sp, gp, tp, s0-s11; other registers 0), the crashed thread first,
        so the debuggers select it; with --for lldb also each thread's name (NT_FREEBSD_THRMISC).
        amd64, arm64, i386 and riscv dumps are exported (an arm64 core keeps the dump's page size and
        is opened with gdb-multiarch, 'set architecture aarch64'; a riscv core with 'set architecture
        riscv:rv64'; an i386 core is ELF32, opened with gdb, 'set architecture i386'). LLDB does not
        place the kernel's symbols from a core by itself: the printed command loads them at slide 0.
        Debian's gdb has no FreeBSD core support, so --for gdb writes Linux-layout notes and, beside
        OUT, a script OUT.gdb that names the threads. The command to open the core is printed on
        standard error, with a summary of what was written and what was left out; --json prints the
        summary on standard output instead (not with -o -). The dump is only read. Without a kernel
        image (-N) the core has memory only, no threads.

        """ + ThreadSupport.discussion

    let shared: SharedOptions
    let outputPath: String
    let overwrite: Bool
    let coreFlavor: CoreFlavor
    let offsetsPath: String?

    init(_ arguments: ParsedArguments, shared: SharedOptions) throws(UsageError) {
        guard arguments.positionals.isEmpty else { throw UsageError("unexpected argument '\(arguments.positionals[0])'") }
        guard let path = arguments.value(Self.output), !path.isEmpty else { throw UsageError("missing -o OUT (or -o - for standard output)") }
        if path == "-" && shared.json { throw UsageError("options '-o -' and '--json' cannot be combined") }
        let name = arguments.value(Self.flavor) ?? "gdb"
        guard let flavor = CoreFlavor(rawValue: name) else { throw UsageError("--for '\(name)': expected gdb or lldb") }
        self.shared = shared
        outputPath = path
        overwrite = arguments.has(Self.force)
        coreFlavor = flavor
        offsetsPath = arguments.value(ThreadSupport.offsets)
    }

    func run(_ console: Console) throws(CommandFailure) -> ExitStatus {
        if outputPath == "-" && isatty(1) == 1 {
            throw CommandFailure(message: "standard output is a terminal: not writing a core there (redirect it, or give -o OUT)")
        }
        if outputPath != "-" {
            for (input, what) in [(shared.corePath, "the dump"), (shared.kernelPath ?? "", "the kernel image")]
            where !input.isEmpty && Self.sameFile(outputPath, input) {
                throw CommandFailure(message: "\(outputPath): is \(what) itself; choose another output")
            }
        }
        // The thread-name script goes beside a regular file only (not beside /dev/null or a FIFO).
        let scriptPath = outputPath == "-" || coreFlavor != .gdb || Self.isSpecialFile(outputPath) ? nil : outputPath + ".gdb"
        if outputPath != "-" && !overwrite && fileExists(outputPath) {
            throw CommandFailure(message: CoreExportError(path: outputPath, problem: .exists).description)
        }
        if let scriptPath, !overwrite, fileExists(scriptPath) {
            throw CommandFailure(message: "\(scriptPath): file exists (use --force to overwrite it)")
        }
        let dump = try shared.openDump(console)
        do throws(CoreExportError) {
            try checkExportable(dump, path: outputPath)
        } catch {
            throw CommandFailure(message: error.description)
        }
        if dump.needsKernelTables, let reason = dump.kernelTables?.reason {
            throw CommandFailure(message: "\(dump.path): \(reason)")
        }
        dump.buildIndex()  // every page: the whole index once
        let kernel = try shared.openKernel()
        var threads: [CoreThread] = []
        var osreldate: UInt32 = 0
        if let kernel {
        do throws(ThreadError) {
            let file = try offsetsPath.map { (path: String) throws(ThreadError) in (path: path, values: try KernelOffsets.loadFile(path: path)) }
            let list = try kernelThreads(dump: dump, kernel: kernel, offsets: file)
            ThreadSupport.report(list, dump, console)
            threads = Self.coreThreads(list)
            if let symbol = kernel.symbol(named: "osreldate"), let value = try? dump.readUInt64(VirtualAddress(symbol.value)) {
                osreldate = UInt32(truncatingIfNeeded: value)
            }
        } catch {
            console.diagnose("\(dump.path): warning: no threads in the core: \(error.description(width: dump.addressWidth))")
        }
        }
        let output: OutputFile
        do throws(OutputFileError) {
            output = try OutputFile(path: outputPath, overwrite: overwrite)
        } catch {
            throw CommandFailure(message: CoreExportError(path: outputPath, problem: error).description)
        }
        var options = CoreExportOptions(flavor: coreFlavor)
        options.osreldate = osreldate
        let kernelName = String((shared.kernelPath ?? "kernel").split(separator: "/").last ?? "kernel")
        options.programName = kernelName
        if let limit = environment("KVMDUMP_EXPORT_PHDR_LIMIT").flatMap({ Int($0) }), limit > 0 { options.programHeaderLimit = limit }
        let progress = Progress(enabled: isatty(2) == 1)
        let report: CoreExportReport
        do throws(CoreExportError) {
            report = try exportCore(dump: dump, threads: threads, to: output, options: options, progress: progress.update)
        } catch {
            progress.end()
            throw CommandFailure(message: error.description)
        }
        progress.end()
        if let scriptPath {
            guard writeScript(scriptPath, threads) else {
                throw CommandFailure(message: "\(scriptPath): cannot write the gdb script: \(errorText(errno))")
            }
        }
        let kernelPath = shared.kernelPath ?? "KERNEL"
        let shownOut = outputPath == "-" ? "OUT" : outputPath
        let command: String
        switch coreFlavor {
        case .gdb:
            command = "\(gdbInvocation(for: dump)) \(Self.quoted(kernelPath)) \(Self.quoted(shownOut))"
                + (scriptPath.map { " -x \(Self.quoted($0))" } ?? "")
        case .lldb:
            command = "lldb \(Self.quoted(kernelPath)) -c \(Self.quoted(shownOut)) -o "
                + Self.quoted("target modules load --file \(kernelName) --slide 0")
        }
        let leftOut = report.kernelPagesLeftOut + report.dumpedPagesLeftOut
        if shared.json {
            JSON.object([
                ("output", .string(outputPath)), ("for", .string(coreFlavor.rawValue)), ("command", .string(command)),
                ("gdb_script", .optional(scriptPath, JSON.string)),
                ("program_headers", .int(Int64(report.programHeaders))), ("kernel_segments", .int(Int64(report.kernelSegments))),
                ("direct_map_segments", .int(Int64(report.directMapSegments))), ("pn_xnum", .bool(report.extendedNumbering)),
                ("threads", .int(Int64(report.threads))),
                ("threads_without_registers", .array(threads.filter { $0.registers.isEmpty }.map { .int(Int64($0.tid)) })),
                ("data_pages", .uint(report.dataPages)),
                ("hole_bytes", .uint(report.holeBytes)), ("file_size", .uint(report.fileSize)),
                ("kernel_pages_left_out", .uint(report.kernelPagesLeftOut)), ("dumped_pages_left_out", .uint(report.dumpedPagesLeftOut)),
                ("pages_outside_direct_map", .uint(report.pagesOutsideDirectMap)),
                ("findings", .array(dump.findings.map { .string($0.description) })),
            ]).writeLine(to: console.out)
        } else {
            console.diagnose("wrote \(shownOut): \(report.fileSize) bytes (\(report.holeBytes) in holes), \(report.dataPages) pages, "
                             + "\(report.kernelSegments) kernel-map and \(report.directMapSegments) direct-map segments"
                             + (report.extendedNumbering ? " (PN_XNUM)" : "") + ", \(report.threads) threads")
            if leftOut > 0 || report.pagesOutsideDirectMap > 0 {
                console.diagnose("left out: \(report.kernelPagesLeftOut) kernel-map pages not in the dump, "
                                 + "\(report.dumpedPagesLeftOut) dumped pages past the end of the file, "
                                 + "\(report.pagesOutsideDirectMap) pages beyond the direct map")
            }
            let bare = threads.filter { $0.registers.isEmpty }
            if !bare.isEmpty {
                console.diagnose("\(bare.count) threads without a readable pcb have zero registers in the core: tids "
                                 + bare.prefix(10).map { String($0.tid) }.joined(separator: ", ") + (bare.count > 10 ? ", ..." : ""))
            }
            for finding in dump.findings { console.diagnose("\(dump.path): \(finding)") }
            console.diagnose("open it with: \(command)")
        }
        return .success
    }

    /// `text` as one shell word: as it is when it has only safe characters, else in single quotes.
    static func quoted(_ text: String) -> String {
        let safe = text.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "/._-+:,=@%".unicodeScalars.contains($0)
        }
        if safe && !text.isEmpty { return text }
        var result = "'"
        for character in text { result += character == "'" ? "'\\''" : String(character) }
        return result + "'"
    }

    /// True if `path` exists and is not a regular file (a device, a FIFO, a socket).
    static func isSpecialFile(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return UInt32(truncatingIfNeeded: info.st_mode) & UInt32(S_IFMT) != UInt32(S_IFREG)
    }

    /// True if both paths name the same existing file (same device and inode).
    static func sameFile(_ a: String, _ b: String) -> Bool {
        var x = stat()
        var y = stat()
        guard stat(a, &x) == 0, stat(b, &y) == 0 else { return false }
        return x.st_dev == y.st_dev && x.st_ino == y.st_ino
    }

    /// KernelThreads' list, crashed first, as the core's threads.
    static func coreThreads(_ list: ThreadList) -> [CoreThread] {
        list.threads.map { t in
            var registers: [String: UInt64] = [:]
            for r in t.registers { registers[r.name] = r.value }
            return CoreThread(tid: t.tid, pid: t.pid, name: t.name.isEmpty ? t.comm : t.name, comm: t.comm, registers: registers)
        }
    }

    /// OUT.gdb: gdb numbers the core's threads in note order; name each.
    private func writeScript(_ path: String, _ threads: [CoreThread]) -> Bool {
        var text = "# Thread names for \(outputPath) (written by kvmdump export).\n"
        for (i, t) in threads.enumerated() {
            let name = t.name.filter { $0 != "\n" && $0 != "\r" }
            text += "thread apply \(i + 1) -q thread name \(name)\n"
        }
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL)
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return writeUnbuffered(fd, text)
    }
}

/// A percentage on standard error, rewritten in place, when standard error is a terminal.
final class Progress: @unchecked Sendable {
    let enabled: Bool
    let label: String
    private var shown = -1
    init(enabled: Bool, label: String = "export") {
        self.enabled = enabled
        self.label = label
    }

    func update(_ done: UInt64, _ total: UInt64) {
        guard enabled, total > 0 else { return }
        let percent = Int(done * 100 / total)
        guard percent != shown else { return }
        shown = percent
        let text = "\rkvmdump: \(label): \(percent)% (\(done >> 20) of \(total >> 20) MiB)"
        _ = text.withCString { write(2, $0, strlen($0)) }
    }

    func end() {
        guard enabled, shown >= 0 else { return }
        _ = "\r\u{1b}[K".withCString { write(2, $0, strlen($0)) }
        shown = -1
    }
}

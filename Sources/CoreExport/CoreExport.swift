/// `exportCore`: a minidump as an ELF64 core (ELF32 for i386) that gdb and LLDB open, streamed in one pass over the
/// data pages. No Foundation.
///
/// Layout: ELF header, program headers (PT_NOTE, then the direct-map PT_LOADs, then the kernel-map
/// PT_LOADs), section header 0 when PN_XNUM is needed, the notes, then — from a page boundary —
/// the dump's data pages wholly in the file, in the dump's own order. Every PT_LOAD points into
/// that one copy: a page reachable through both maps has its bytes once. Pages the dump does not
/// hold have no segment (the debuggers say they cannot read them); zero pages become holes in a
/// regular output file.
import MappedBytes
import MinidumpCore

/// What the export may change.
public struct CoreExportOptions: Sendable {
    /// Which debugger's note layout and OSABI.
    public var flavor: CoreFlavor = .gdb
    /// Segment count from which PN_XNUM is used (e_phnum = 0xffff and the count in sh_info).
    /// ELF allows at most 65,534 in e_phnum; tests lower it.
    public var programHeaderLimit: Int = 0xffff
    /// Leave zero pages as holes when the output is a regular file.
    public var sparse: Bool = true
    /// `osreldate` for FreeBSD prstatus notes.
    public var osreldate: UInt32 = 0
    /// The program name in NT_PRPSINFO: gdb warns when it differs from the executable's file name,
    /// so give the kernel image's (the first 15 bytes count).
    public var programName: String = "kernel"

    public init(flavor: CoreFlavor = .gdb) { self.flavor = flavor }
}

/// What was written and what was left out.
public struct CoreExportReport: Sendable, Equatable {
    /// All program headers, the PT_NOTE included.
    public var programHeaders = 0
    /// PT_LOADs for kernel-map runs.
    public var kernelSegments = 0
    /// PT_LOADs for direct-map runs.
    public var directMapSegments = 0
    /// True if PN_XNUM was used.
    public var extendedNumbering = false
    /// Data pages copied (those wholly in the dump file).
    public var dataPages: UInt64 = 0
    /// Bytes of zero pages left as holes.
    public var holeBytes: UInt64 = 0
    /// Size of the core file.
    public var fileSize: UInt64 = 0
    /// Threads with an NT_PRSTATUS note.
    public var threads = 0
    /// 4 KiB pages the kernel map maps whose bytes are not in the dump (not dumped, or past the end
    /// of a truncated file): unreadable in the core.
    public var kernelPagesLeftOut: UInt64 = 0
    /// Dumped pages past the end of a truncated dump file: unreadable in the core.
    public var dumpedPagesLeftOut: UInt64 = 0
    /// Dumped pages beyond the direct map's size: readable only where the kernel map maps them.
    public var pagesOutsideDirectMap: UInt64 = 0
}

/// Why the export failed.
public struct CoreExportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Problem: Sendable, Equatable {
        /// Opening or writing the output failed.
        case output(OutputFileError)
        /// More segments than ELF can count (sh_info is 32 bits).
        case tooManySegments(count: Int)
        /// The dump is of an architecture the core writer has no layout for (`coreArchitectures`).
        case unsupportedArchitecture(String)
        /// An ELF32 core (i386) would be larger than its 32-bit offsets reach.
        case tooLargeForELF32(bytes: UInt64)
    }

    /// The output path ("-" for standard output).
    public let path: String
    public let problem: Problem

    public init(path: String, problem: Problem) {
        self.path = path
        self.problem = problem
    }

    public init(path: String, problem: OutputFileError) {
        self.init(path: path, problem: .output(problem))
    }

    public var description: String {
        switch problem {
        case .output(.exists): return "\(path): file exists (use --force to overwrite it)"
        case .output(.open(let e)): return "\(path): cannot open for writing: \(errorText(e))"
        case .output(.write(let e, let offset)): return "\(path): write failed at offset \(offset): \(errorText(e))"
        case .output(.truncate(let e, let size)): return "\(path): cannot set the file size to \(size): \(errorText(e))"
        case .tooManySegments(let count):
            return "\(path): \(count) segments: more than an ELF core can count (\(UInt32.max - 1)); nothing written"
        case .unsupportedArchitecture(let architecture):
            let supported = coreArchitectures.map { $0.name }.joined(separator: ", ")
            return "\(path): the dump is \(architecture); export writes \(supported) cores only; nothing written"
        case .tooLargeForELF32(let bytes):
            return "\(path): the core would be \(bytes) bytes, more than an ELF32 core's offsets reach (4 GiB); nothing written"
        }
    }
}

/// Throws `.unsupportedArchitecture` unless `dump` is one the core writer lays out (amd64, arm64, i386, riscv);
/// call it before creating the output.
public func checkExportable(_ dump: Dump, path: String) throws(CoreExportError) {
    _ = try exportArchitecture(dump, path: path)
}

/// The core layout of `dump`'s architecture.
func exportArchitecture(_ dump: Dump, path: String) throws(CoreExportError) -> any CoreArchitecture.Type {
    guard let arch = coreArchitecture(named: dump.header.architecture) else {
        throw CoreExportError(path: path, problem: .unsupportedArchitecture(dump.header.architecture))
    }
    return arch
}

/// One PT_LOAD as found by the segment walk.
struct LoadSegment: Equatable {
    var vaddr: UInt64
    var paddr: UInt64
    /// First data-page number.
    var firstPage: UInt64
    var pages: UInt64
    var flags: UInt32
}

/// Walks the segments of `dump` in output order: direct-map runs, then kernel-map runs, in units of the
/// dump's page (4 KiB; 16 KiB for an arm64 16K dump).
/// Returns the counts of each kind and what was left out.
@discardableResult
func forEachSegment(_ dump: Dump, _ body: (LoadSegment) -> Void) -> (direct: Int, kernel: Int, kernelLeftOut: UInt64, outsideDirect: UInt64) {
    var direct = 0
    var outside: UInt64 = 0
    let page = dump.pageSize
    if let dmap = dump.directMapRange {
        dump.forEachDumpedRun { pa, first, count in
            // The run's pages that lie within the direct map (which starts at some physical address).
            guard let va = dump.directMapAddress(ofPhysical: pa)?.rawValue else { outside += count; return true }
            let fit = min(count, (dmap.upperBound - va) / page + 1)
            outside += count - fit
            if fit > 0 {
                body(LoadSegment(vaddr: va, paddr: pa.rawValue, firstPage: first, pages: fit, flags: ELF.pfR | ELF.pfW))
                direct += 1
            }
            return true
        }
    }
    var kernel = 0
    var leftOut: UInt64 = 0
    var run: LoadSegment?
    func close() {
        if let r = run { body(r); kernel += 1 }
        run = nil
    }
    let data = dump.dataPagesInFile
    dump.forEachKernelPage { mapped in
        let flags = ELF.pfR | (mapped.writable ? ELF.pfW : 0) | (mapped.executable ? ELF.pfX : 0)
        let pieces: UInt64 = max(1, mapped.size.bytes / page)
        for i in 0..<pieces {
            let va = mapped.virtualAddress.rawValue &+ i * page
            let pa = mapped.physicalAddress.rawValue &+ i * page
            let number: UInt64?
            if pieces == 1 {
                number = mapped.fileOffset.map { ($0.rawValue - data.offset) / page }
            } else {
                number = mapped.presentPages == 0 ? nil : dump.dataPageNumber(ofPhysical: PhysicalAddress(pa))
            }
            guard let number, number < data.count else {
                leftOut += 1
                close()
                continue
            }
            if var r = run, r.vaddr &+ r.pages * page == va, r.firstPage + r.pages == number,
               r.paddr &+ r.pages * page == pa, r.flags == flags {
                r.pages += 1
                run = r
            } else {
                close()
                run = LoadSegment(vaddr: va, paddr: pa, firstPage: number, pages: 1, flags: flags)
            }
        }
        return true
    }
    close()
    return (direct, kernel, leftOut, outside)
}

/// Writes `dump` as an ELF core to `output`: notes for `threads` (the first is the one debuggers
/// select: put the crashed thread first), the data pages and the segments mapping them.
/// `progress` is called with (bytes of data written, bytes of data in all) now and then.
/// Memory stays constant in the dump's size: the segment list is walked twice, never stored.
public func exportCore(dump: Dump, threads: [CoreThread], to output: OutputFile,
                       options: CoreExportOptions = CoreExportOptions(),
                       progress: ((UInt64, UInt64) -> Void)? = nil) throws(CoreExportError) -> CoreExportReport {
    let arch = try exportArchitecture(dump, path: output.path)
    var report = CoreExportReport()
    let counts = forEachSegment(dump) { _ in }
    report.directMapSegments = counts.direct
    report.kernelSegments = counts.kernel
    report.kernelPagesLeftOut = counts.kernelLeftOut
    report.pagesOutsideDirectMap = counts.outsideDirect
    let data = dump.dataPagesInFile
    report.dataPages = data.count
    report.dumpedPagesLeftOut = dump.dumpedPageCount - data.count
    report.threads = threads.count
    // LLDB refuses a PT_NOTE without NT_PRSTATUS: no threads, no notes.
    let hasNotes = !threads.isEmpty
    let phnum = (hasNotes ? 1 : 0) + counts.direct + counts.kernel
    report.programHeaders = phnum
    guard phnum < Int(UInt32.max) else { throw CoreExportError(path: output.path, problem: .tooManySegments(count: phnum)) }
    let xnum = phnum >= min(options.programHeaderLimit, ELF.pnXNUM)
    report.extendedNumbering = xnum
    let elf = arch.elfClass
    let phoff = UInt64(elf.headerSize)
    let shoff = phoff + UInt64(phnum) * UInt64(elf.programHeaderSize)
    let notesOffset = shoff + (xnum ? UInt64(elf.sectionHeaderSize) : 0)
    let notesSize = hasNotes ? UInt64(CoreNotes.size(flavor: options.flavor, arch: arch, threads: threads.count)) : 0
    let page = dump.pageSize
    let dataBase = (notesOffset + notesSize + page - 1) & ~(page - 1)
    let (dataBytes, o1) = data.count.multipliedReportingOverflow(by: page)
    let (end, o2) = dataBase.addingReportingOverflow(dataBytes)
    guard !o1, !o2, end <= elf.maximum else {
        throw CoreExportError(path: output.path, problem: .tooLargeForELF32(bytes: o1 || o2 ? UInt64.max : end))
    }

    // Offsets are relative to where the output stands now (0 for a new file).
    let origin = output.offset
    do throws(OutputFileError) {
        // ELF header.
        var w = ByteWriter(capacity: 4096)
        w.bytes += [0x7f, 0x45, 0x4c, 0x46, elf.identByte, 1, 1, options.flavor == .lldb ? ELF.osabiFreeBSD : ELF.osabiNone]
        w.zeros(8)
        w.u16(4); w.u16(arch.elfMachine); w.u32(1)  // ET_CORE, e_machine, EV_CURRENT
        w.word(0, elf); w.word(phoff, elf); w.word(xnum ? shoff : 0, elf)
        w.u32(0); w.u16(UInt16(elf.headerSize)); w.u16(UInt16(elf.programHeaderSize))
        w.u16(UInt16(xnum ? ELF.pnXNUM : phnum))
        w.u16(xnum ? UInt16(elf.sectionHeaderSize) : 0); w.u16(xnum ? 1 : 0); w.u16(0)
        if hasNotes {
            ProgramHeader(type: ELF.ptNote, flags: ELF.pfR, offset: notesOffset, vaddr: 0, paddr: 0,
                          filesz: notesSize, memsz: 0, align: 4).encode(into: &w, elf)
        }
        try output.write(w.bytes)
        // Program headers, written as the walk finds them (in batches).
        var batch = ByteWriter(capacity: 1 << 16)
        var failure: OutputFileError?
        forEachSegment(dump) { s in
            guard failure == nil else { return }
            ProgramHeader(type: ELF.ptLoad, flags: s.flags, offset: dataBase + s.firstPage * page, vaddr: s.vaddr,
                          paddr: s.paddr, filesz: s.pages * page, memsz: s.pages * page, align: page).encode(into: &batch, elf)
            if batch.bytes.count >= 1 << 16 {
                do throws(OutputFileError) { try output.write(batch.bytes) } catch { failure = error }
                batch.bytes.removeAll(keepingCapacity: true)
            }
        }
        if let failure { throw failure }
        try output.write(batch.bytes)
        // Section header 0 for PN_XNUM: sh_info holds the program header count.
        if xnum {
            var s = ByteWriter(capacity: 64)
            s.u32(0); s.u32(0); s.word(0, elf); s.word(0, elf); s.word(0, elf); s.word(0, elf)  // name type flags addr offset size
            s.u32(0); s.u32(UInt32(phnum)); s.word(0, elf); s.word(0, elf)  // link info addralign entsize
            try output.write(s.bytes)
        }
        // Notes.
        if hasNotes {
        var notes = ByteWriter(capacity: 4096)
        let name = options.flavor == .gdb ? CoreNotes.linuxName : CoreNotes.freebsdName
        CoreNotes.note(&notes, name: name, type: 3, desc: CoreNotes.prpsinfo(flavor: options.flavor, elf: elf, program: options.programName, first: threads.first))
        for thread in threads {
            CoreNotes.note(&notes, name: name, type: 1,
                           desc: CoreNotes.prstatus(flavor: options.flavor, arch: arch, thread: thread, osreldate: options.osreldate))
            if options.flavor == .lldb { CoreNotes.note(&notes, name: name, type: 7, desc: CoreNotes.thrmisc(thread)) }
            if notes.bytes.count >= 1 << 16 {
                try output.write(notes.bytes)
                notes.bytes.removeAll(keepingCapacity: true)
            }
        }
        try output.write(notes.bytes)
        }
        try output.zeros(dataBase - (output.offset - origin))
        // Data pages, in chunks so progress can be shown. The holes of a sparse dump file are not
        // read (SEEK_DATA/SEEK_HOLE), and pages already copied leave the resident set.
        let chunk: UInt64 = 64 << 20
        let holes = options.sparse && dump.isFileMapped ? FileHoles(path: dump.path, size: dump.fileSize) : nil
        var done: UInt64 = 0
        progress?(0, dataBytes)
        while done < dataBytes {
            var length = min(chunk, dataBytes - done)
            if let holes {
                let at = data.offset + done
                guard let start = holes.dataStart(from: at) else {
                    let rest = dataBytes - done
                    try output.zeros(rest)
                    if output.canSeek { report.holeBytes += rest }
                    done = dataBytes
                    progress?(done, dataBytes)
                    break
                }
                let skip = min((start - at) & ~(page - 1), dataBytes - done)
                if skip > 0 {
                    try output.zeros(skip)
                    if output.canSeek { report.holeBytes += skip }
                    done += skip
                    progress?(done, dataBytes)
                    continue
                }
                let hole = holes.holeStart(from: at)
                if hole != UInt64.max, hole > data.offset {
                    let end = min(dataBytes, (hole - data.offset + page - 1) & ~(page - 1))
                    length = min(length, max(end > done ? end - done : 0, page), dataBytes - done)
                }
            }
            dump.prepareFileBytes(offset: data.offset + done, length: length)
            report.holeBytes += try output.write(dump.fileBytes, at: data.offset + done, length: length, sparse: options.sparse)
            dump.releaseFileBytes(offset: data.offset + done, length: length)
            done += length
            progress?(done, dataBytes)
        }
        try output.finish()
        report.fileSize = output.offset - origin
    } catch {
        throw CoreExportError(path: output.path, problem: error)
    }
    return report
}

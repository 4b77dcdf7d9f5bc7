import MappedBytes

/// Why a dump could not be opened. Every case names the field or section and the value at fault.
public struct DumpError: Error, Sendable, CustomStringConvertible {
    /// The dump's path as given to `Dump(path:)`.
    public let path: String
    /// What is wrong.
    public let problem: Problem

    /// Pairs a problem with the file it was found in.
    public init(path: String, problem: Problem) {
        self.path = path
        self.problem = problem
    }

    /// `path: problem`, e.g. "vmcore.0: bitmap section ends at 0x9000, past the end of the file (0x5000)".
    public var description: String { "\(path): \(problem)" }

    /// A problem found while opening a dump.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        /// `open` or `fstat` failed with this errno.
        case cannotOpen(errno: Int32)
        /// The path names a directory, device, FIFO, socket or other non-regular file; `kind` says
        /// which ("a FIFO (named pipe)"). Only regular files are read; a FIFO is refused without
        /// blocking, and a block device (a dump device) needs savecore(8) first.
        case notRegularFile(kind: String)
        /// The file is larger than this host can map.
        case fileTooLarge(size: UInt64)
        /// `mmap` failed with this errno.
        case cannotMap(errno: Int32)
        /// The file is shorter than the 4096-byte header page.
        case fileTooSmall(size: UInt64)
        /// The first bytes are not a FreeBSD minidump magic; `found` is what is there (printable form).
        case badMagic(found: String)
        /// A crash dump of another kind (ELF full dump, compressed, raw device image); says which.
        case unsupportedFormat(String)
        /// A minidump of an architecture this build cannot read (e.g. "mips").
        case unsupportedArchitecture(String)
        /// The header version is not one this reader knows.
        case unsupportedVersion(UInt32, supported: ClosedRange<UInt32>)
        /// A header field must be a multiple of `alignment` and is not.
        case misaligned(field: String, value: UInt64, alignment: UInt64)
        /// A header field has a value that cannot be right, with the reason.
        case invalidField(field: String, value: UInt64, reason: String)
        /// Computing where a section ends overflows 64 bits.
        case sectionOffsetOverflow(section: String)
        /// A section the reader needs in full ends past the end of the file.
        case sectionPastEndOfFile(section: String, end: UInt64, fileSize: UInt64)
        /// The dump_avail list has no terminating zero pair within its section.
        case dumpAvailUnterminated(pairs: Int)
        /// dump_avail range `index` is empty or reversed.
        case dumpAvailEmptyRange(index: Int, start: UInt64, end: UInt64)
        /// dump_avail range `index` starts below the end of the range before it.
        case dumpAvailOverlap(index: Int, start: UInt64, previousEnd: UInt64)
        /// dump_avail lists no memory at all.
        case dumpAvailEmpty
        /// dump_avail describes more pages than the bitmap has bits.
        case dumpAvailExceedsBitmap(pages: UInt64, bitmapBits: UInt64)
        /// The file was `openedSize` bytes when opened and shrank to `size` while it was read
        /// (a dump still being written, or replaced): what was read past its new end is not used.
        case fileShrank(size: UInt64, openedSize: UInt64)
        /// A compressed dump could not be decompressed far enough, or its cache could not be made:
        /// `reason` says what (the format, the fault and its compressed offset, or the cache path).
        case decompression(String)
        /// An ELF full dump's header or program headers are wrong, or its kernel page tables cannot
        /// be found (`FullDumpError` names the field and value).
        case fullDump(FullDumpError)

        /// The problem a failed open or map of the file is.
        public init(_ error: FileError) {
            switch error {
            case .open(let code), .stat(let code): self = .cannotOpen(errno: code)
            case .notRegularFile(let mode): self = .notRegularFile(kind: fileKindName(mode: mode))
            case .tooLarge(let size): self = .fileTooLarge(size: size)
            case .map(let code, _): self = .cannotMap(errno: code)
            }
        }

        /// A sentence a person can act on.
        public var description: String {
            switch self {
            case .cannotOpen(let code): return "cannot open: \(errorText(code))"
            case .notRegularFile(let kind):
                let hint = kind == "a block device" ? "; for a dump device, extract the dump with savecore(8) first" : ""
                return "not a regular file: it is \(kind); only regular files are read\(hint)"
            case .fileTooLarge(let size): return "file too large to map (\(hex(size)) bytes)"
            case .cannotMap(let code): return "cannot map the file: \(errorText(code))"
            case .fileTooSmall(let size):
                return "file is \(size) bytes, shorter than the 4096-byte minidump header page"
            case .badMagic(let found):
                return "not a FreeBSD minidump: magic is \"\(found)\", expected \"minidump FreeBSD/<arch>\""
            case .unsupportedFormat(let what):
                return "not a minidump: the file is \(what)"
            case .unsupportedArchitecture(let arch):
                return "minidump for architecture \"\(arch)\" is not supported (supported: \(registeredArchitectures.map { $0.name }.joined(separator: ", ")))"
            case .unsupportedVersion(let version, let supported):
                return "header version is \(version), supported versions are \(supported.lowerBound) to \(supported.upperBound)"
            case .misaligned(let field, let value, let alignment):
                return "header field \(field) is \(hex(value)), not a multiple of \(hex(alignment))"
            case .invalidField(let field, let value, let reason):
                return "header field \(field) is \(hex(value)): \(reason)"
            case .sectionOffsetOverflow(let section):
                return "\(section) section offset overflows 64 bits"
            case .sectionPastEndOfFile(let section, let end, let fileSize):
                return "\(section) section ends at \(hex(end)), past the end of the file (\(hex(fileSize)))"
            case .dumpAvailUnterminated(let pairs):
                return "dump_avail has no terminating zero pair within its \(pairs) entries"
            case .dumpAvailEmptyRange(let index, let start, let end):
                return "dump_avail range \(index) [\(hex(start)), \(hex(end))) is empty or reversed"
            case .dumpAvailOverlap(let index, let start, let previousEnd):
                return "dump_avail range \(index) starts at \(hex(start)), below the end of range \(index - 1) (\(hex(previousEnd)))"
            case .dumpAvailEmpty:
                return "dump_avail lists no physical memory"
            case .dumpAvailExceedsBitmap(let pages, let bits):
                return "dump_avail describes \(pages) pages but the bitmap has only \(bits) bits"
            case .fileShrank(let size, let opened):
                return shrankText(size: size, openedSize: opened)
            case .decompression(let reason):
                return reason
            case .fullDump(let error):
                return error.description
            }
        }
    }
}

/// Why one virtual address could not be translated to a byte of the dump.
public struct TranslationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The address that failed.
    public let virtualAddress: VirtualAddress
    /// What stopped the translation.
    public let reason: Reason

    /// Pairs a reason with the address it stopped.
    public init(virtualAddress: VirtualAddress, reason: Reason) {
        self.virtualAddress = virtualAddress
        self.reason = reason
    }

    /// `0x…: reason`, the address in 16 digits.
    public var description: String { description(width: .bits64) }
    /// `0x…: reason`, the address in the dump's `width` (`Dump.addressWidth`).
    public func description(width: AddressWidth) -> String { "\(virtualAddress.description(width: width)): \(reason)" }

    /// The step of the walk that failed, with the values seen there.
    public enum Reason: Sendable, Equatable, CustomStringConvertible {
        /// The address is in neither the kernel map nor the direct map.
        case outsideMaps(kernelMap: ClosedRange<UInt64>?, directMap: ClosedRange<UInt64>?)
        /// The address is outside the kernel map of an architecture that has no direct map (i386);
        /// `beyondAddressSpace` when it does not even fit in the architecture's `addressBits`.
        case outsideKernelMap(kernelMap: ClosedRange<UInt64>?, architecture: String, addressBits: Int,
                              beyondAddressSpace: Bool)
        /// The kernel-map entry (PDE for v2+, PTE for v1) has its valid bit clear.
        case mapEntryInvalid(index: UInt64, entry: UInt64, kind: String)
        /// The kernel-map entry lies in the part of the page-table map section cut off by truncation.
        case mapEntryPastEndOfFile(index: UInt64, offset: FileOffset)
        /// The PDE is valid but the page-table page it names is not among the dumped pages.
        case pageTablePageMissing(pde: UInt64, physicalAddress: PhysicalAddress)
        /// The page-table page is dumped but lies past the end of the truncated file.
        case pageTablePagePastEndOfFile(pde: UInt64, physicalAddress: PhysicalAddress, offset: FileOffset)
        /// The PTE has its valid bit clear.
        case pteInvalid(pde: UInt64, pte: UInt64)
        /// The physical page is in no dump_avail range, so the dump cannot hold it (v3).
        case physicalAddressOutsideRanges(PhysicalAddress)
        /// The physical page lies past the last of the `pages` pages (of `pageSize` bytes) the bitmap
        /// describes (versions without dump_avail: bit n is physical page n).
        case physicalAddressBeyondBitmap(PhysicalAddress, pages: UInt64, pageSize: UInt64)
        /// The physical page's bitmap bit is clear: the kernel did not dump it.
        case pageNotDumped(PhysicalAddress, bit: UInt64)
        /// The page is dumped but this byte of it lies past the end of the truncated file.
        case pagePastEndOfFile(PhysicalAddress, offset: FileOffset, fileSize: UInt64)
        /// The file shrank from `openedSize` to `size` bytes while it was read; nothing this
        /// operation read is used.
        case fileShrank(size: UInt64, openedSize: UInt64)
        /// No virtual address translates: the kernel page tables of an ELF full dump are not known
        /// (the text says why, e.g. that they need the kernel image, `-N`).
        case kernelTablesUnknown(String)
        /// An ELF full dump: the physical address is in no PT_LOAD segment.
        case physicalAddressOutsideSegments(PhysicalAddress)
        /// An ELF full dump: the address is inside a PT_LOAD's `p_memsz` but past its `p_filesz`.
        case physicalAddressPastSegmentFileSize(PhysicalAddress)

        /// A sentence a person can act on.
        public var description: String {
            switch self {
            case .outsideMaps(let kernel, let direct):
                let k = kernel.map { "[\(hex($0.lowerBound)), \(hex($0.upperBound))]" } ?? "(empty)"
                let d = direct.map { "[\(hex($0.lowerBound)), \(hex($0.upperBound))]" } ?? "(empty)"
                return "not in the kernel map \(k) or the direct map \(d)"
            case .outsideKernelMap(let kernel, let architecture, let bits, let beyond):
                let k = kernel.map { "[\(hex($0.lowerBound)), \(hex($0.upperBound))]" } ?? "(empty)"
                let width = beyond ? "not a \(bits)-bit address, so " : ""
                return "\(width)not in the kernel map \(k); \(architecture) has no direct map (only kernel-map addresses translate)"
            case .mapEntryInvalid(let index, let entry, let kind):
                return "\(kind) \(index) is not valid (\(hex(entry)))"
            case .mapEntryPastEndOfFile(let index, let offset):
                return "kernel-map entry \(index) at file offset \(offset) is past the end of the truncated file"
            case .pageTablePageMissing(let pde, let pa):
                return "page-table page \(pa) (PDE \(hex(pde))) is not in the dump"
            case .pageTablePagePastEndOfFile(let pde, let pa, let offset):
                return "page-table page \(pa) (PDE \(hex(pde))) at file offset \(offset) is past the end of the truncated file"
            case .pteInvalid(let pde, let pte):
                return "PTE is not valid (\(hex(pte)); PDE \(hex(pde)))"
            case .physicalAddressOutsideRanges(let pa):
                return "physical address \(pa) is outside every dump_avail range"
            case .physicalAddressBeyondBitmap(let pa, let pages, let pageSize):
                let (bytes, overflow) = pages.multipliedReportingOverflow(by: pageSize)
                return "physical address \(pa) is past the \(pages) pages the bitmap describes (\(overflow ? "over 2^64" : hex(bytes)) bytes)"
            case .pageNotDumped(let pa, let bit):
                return "physical page \(pa) is not in the dump (bitmap bit \(bit) clear)"
            case .pagePastEndOfFile(let pa, let offset, let fileSize):
                return "physical address \(pa) at file offset \(offset) is past the end of the truncated file (\(hex(fileSize)))"
            case .fileShrank(let size, let opened):
                return shrankText(size: size, openedSize: opened)
            case .kernelTablesUnknown(let why):
                return why
            case .physicalAddressOutsideSegments(let pa):
                return "physical address \(pa) is in no PT_LOAD segment of the full dump"
            case .physicalAddressPastSegmentFileSize(let pa):
                return "physical address \(pa) is in a PT_LOAD's p_memsz but past its p_filesz: not in the file"
            }
        }
    }
}

/// "the file shrank to N bytes while it was read (it had M when opened)".
func shrankText(size: UInt64, openedSize: UInt64) -> String {
    "the file shrank to \(size) bytes while it was read (it had \(openedSize) when opened)"
}

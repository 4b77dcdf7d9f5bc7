import MappedBytes
import Synchronization

/// The format layer: a format recognises a file by its first page, reads its header and sections,
/// builds the container (`PhysicalContainer`) and picks the architecture (`MinidumpArchitecture`).
/// `Dump` and `DumpOutline` ask the registry which format a file is and never name one.
///
/// Formats: `MinidumpFormat` (every `minidump FreeBSD/<arch>` file), `ELFFullDumpFormat` (amd64
/// full dumps: PT_LOAD segments, a container of segments). Compressed files (a decompressed view
/// under another format) will be others; until then `unsupportedSignatures` names them.

/// What a format finds before the dumped pages are indexed: enough for `kvmdump header`.
struct FormatOutline {
    let header: MinidumpHeader
    /// The section layout; its data section sized only if `dumpedPageCount` is known.
    let layout: SectionLayout
    let physicalRanges: [PhysicalRange]
    /// Pages the dump holds, when they could be counted within the outline's limit.
    let dumpedPageCount: UInt64?
}

/// A file opened by its format: everything `Dump` answers from.
struct OpenedDump {
    let header: MinidumpHeader
    /// The section layout, data section sized.
    let layout: SectionLayout
    let container: ContainerStorage
    let architecture: any MinidumpArchitecture
    /// Non-fatal problems the format and the architecture found.
    let findings: [IntegrityFinding]
    /// When set, `layout` and `findings` are what opening knew before counting the dumped pages,
    /// and this gives the counted ones on first use (see `CountedParts`).
    var counted: CountedParts? = nil
}

/// What opening leaves to first use because it needs every dumped page counted (a pass over the
/// whole bitmap): the data section's size and the findings. Computed once, under a lock.
final class CountedParts: Sendable {
    typealias Parts = (layout: SectionLayout, findings: [IntegrityFinding])
    private let compute: @Sendable () -> Parts
    private let value = Mutex<Parts?>(nil)

    init(_ compute: @escaping @Sendable () -> Parts) { self.compute = compute }

    /// The counted layout and findings.
    var parts: Parts {
        value.withLock { value in
            if let value { return value }
            let computed = compute()
            value = computed
            return computed
        }
    }
}

/// One file format.
protocol DumpFormat {
    /// True if `head` (the file's first 4096 bytes) carries this format's signature.
    static func probe(_ head: ByteView) -> Bool
    /// Reads the header and the sections without indexing the pages; counts them only if that
    /// costs at most `countLimit` bytes of reading.
    static func outline(_ file: MappedFile, countLimit: UInt64) throws(DumpError.Problem) -> FormatOutline
    /// Opens the file completely: container, architecture and findings.
    static func open(_ file: MappedFile) throws(DumpError.Problem) -> OpenedDump
}

/// Every format this build reads, probed in order.
let registeredFormats: [any DumpFormat.Type] = [MinidumpFormat.self, ELFFullDumpFormat.self]

/// Bytes read to recognise a file (and the smallest file any format accepts).
let probeLength: UInt64 = 4096

/// Signatures of files that are crash dumps, but of a kind no registered format opens as they are.
let unsupportedSignatures: [([UInt8], String)] = [
    ([0x7f, 0x45, 0x4c, 0x46], "an ELF file but not a FreeBSD full dump (its OSABI byte is not 255): a kernel image, or a core of another kind"),
    ([0x1f, 0x8b], "gzip-compressed: decompress it first (gunzip, or savecore -u)"),
    ([0x28, 0xb5, 0x2f, 0xfd], "zstd-compressed: decompress it first (zstd -d, or savecore -u)"),
    (Array("FreeBSD Kernel Dump".utf8), "a raw dump device image: extract the dump with savecore(8) first"),
    (Array("FreeBSD Text Dump".utf8), "a textdump (a tar file of ddb output), not a memory image"),
]

/// The format of `file`.
/// - Throws: `.fileTooSmall`, `.unsupportedFormat` for a known kind no format reads, else `.badMagic`.
func format(of file: MappedFile) throws(DumpError.Problem) -> any DumpFormat.Type {
    file.supplier?.supply(offset: 0, length: probeLength)
    guard file.size >= probeLength, let head = file.bytes.slice(offset: 0, length: probeLength) else {
        throw .fileTooSmall(size: file.size)
    }
    if let format = registeredFormats.first(where: { $0.probe(head) }) { return format }
    for (signature, what) in unsupportedSignatures where (head.bytes(at: 0, length: UInt64(signature.count)) ?? []) == signature {
        throw .unsupportedFormat(what)
    }
    throw .badMagic(found: MinidumpFormat.printableMagic(head))
}

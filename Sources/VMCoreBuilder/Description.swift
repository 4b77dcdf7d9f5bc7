#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a dump could not be generated or written.
public enum GeneratorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The description is inconsistent (the text says which field and why).
    case invalidDescription(String)
    /// Random placement found no free, dumpable physical memory of the requested size.
    case outOfPhysicalMemory(String)
    /// A system call failed while writing or reading a file.
    case io(operation: String, path: String, errno: Int32)

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .invalidDescription(let why): return "invalid dump description: \(why)"
        case .outOfPhysicalMemory(let why): return "out of physical memory: \(why)"
        case .io(let op, let path, let err): return "\(op) \(path): \(String(cString: strerror(err))) (errno \(err))"
        }
    }
}

/// One run of kernel-map pages of the same size, starting at `virtualAddress`.
public struct KernelMapping: Sendable, Equatable {
    /// The size of each page of the mapping.
    public enum PageSize: UInt64, Sendable {
        /// A 4 KiB page (a PTE in a page-table page; v1: a PTE in the map).
        case size4K = 0x1000
        /// A 2 MiB page (a PS PDE; v1: expanded to 512 PTEs).
        case size2M = 0x20_0000
        /// A 1 GiB page (512 consecutive PS PDEs; v1: expanded to 262144 PTEs).
        case size1G = 0x4000_0000
    }

    /// Where the backing physical memory comes from.
    public enum Placement: Sendable, Equatable {
        /// Free, size-aligned RAM chosen by the seeded generator (always fully dumped).
        case random
        /// Physically contiguous memory starting here; may lie partly or wholly outside RAM (those pages are not dumped).
        case physical(UInt64)
    }

    /// First virtual address; aligned to the page size.
    public var virtualAddress: UInt64
    /// Size of every page of the run.
    public var pageSize: PageSize
    /// Number of pages.
    public var count: Int
    /// Sets RW (and the writer's view of "writable").
    public var writable: Bool
    /// Clears NX when true.
    public var executable: Bool
    /// Physical placement of the run.
    public var placement: Placement
    /// Sets the PAT bit (bit 7 in a 4 KiB PTE, bit 12 in a large-page entry), which readers must mask out of the frame.
    public var pat: Bool

    /// Creates a mapping of `count` pages of `pageSize` at `virtualAddress`.
    public init(virtualAddress: UInt64, pageSize: PageSize, count: Int = 1, writable: Bool = true,
                executable: Bool = false, placement: Placement = .random, pat: Bool = false) {
        self.virtualAddress = virtualAddress
        self.pageSize = pageSize
        self.count = count
        self.writable = writable
        self.executable = executable
        self.placement = placement
        self.pat = pat
    }
}

/// Bytes written at a virtual address (kernel map or direct map) over whatever the page held.
public struct Overlay: Sendable, Equatable {
    /// Virtual address of the first byte.
    public var va: UInt64
    /// The bytes; they may cross page boundaries.
    public var bytes: [UInt8]

    /// Creates an overlay of raw bytes.
    public init(va: UInt64, bytes: [UInt8]) {
        self.va = va
        self.bytes = bytes
    }

    /// Creates an overlay holding `string` in UTF-8 followed by one NUL byte.
    public init(va: UInt64, cString string: String) {
        self.init(va: va, bytes: Array(string.utf8) + [0])
    }
}

/// The kernel message buffer: ring contents, sequence numbers and the state of `struct msgbuf`.
public struct MessageBufferDescription: Sendable, Equatable {
    /// What sits after the ring.
    public enum StructState: String, Sendable, Equatable {
        /// A correct `struct msgbuf` right after the ring (ring size = reservation - 72).
        case valid
        /// No struct: the ring fills the whole reservation (a page multiple), so the section has no padding.
        case absent
        /// The struct is there but `msg_magic` is wrong.
        case badMagic
        /// The struct is there but `msg_size` exceeds the section.
        case badSize
    }

    /// `sizeof(struct msgbuf)` on amd64 (FreeBSD 9 and later).
    public static let structSize = 72

    /// Which `struct msgbuf` the kernel had (spec §4).
    public enum StructLayout: String, Sendable, Equatable {
        /// FreeBSD 9 and later: `msg_flags` and `msg_lock` after `msg_lastpri`, 72 bytes.
        case current
        /// FreeBSD 7 and 8: the struct ends after `msg_lastpri`, 36 bytes padded to 40.
        case freebsd7
    }
    /// `MSG_MAGIC`.
    public static let magic: UInt32 = 0x063062

    /// Bytes the kernel reserved (a multiple of 4096): ring plus struct.
    public var reservedSize: Int
    /// Everything ever written to the buffer, oldest first; if longer than the ring it wraps.
    public var text: [UInt8]
    /// How many of the last bytes of `text` syslogd has not read (`wseq - rseq`); at most the ring size.
    public var unreadLength: Int
    /// State of the `struct msgbuf` after the ring.
    public var structState: StructState
    /// Its layout: 72 bytes, or the 40 of FreeBSD 7/8.
    public var structLayout: StructLayout = .current
    /// Physical address of the reservation (page aligned, inside RAM); nil = the highest free pages of RAM, like the kernel.
    public var physicalAddress: UInt64?

    /// Creates a message buffer description.
    public init(reservedSize: Int = 96 * 1024, text: [UInt8], unreadLength: Int = 0,
                structState: StructState = .valid, physicalAddress: UInt64? = nil) {
        self.reservedSize = reservedSize
        self.text = text
        self.unreadLength = unreadLength
        self.structState = structState
        self.physicalAddress = physicalAddress
    }

    /// Ring size `msg_size` (= header `msgbufsize`).
    public var ringSize: Int {
        structState == .absent ? reservedSize : reservedSize - structBytes
    }

    /// `sizeof(struct msgbuf)` for `structLayout`: 72 or 40.
    public var structBytes: Int { structLayout == .freebsd7 ? 40 : MessageBufferDescription.structSize }
}

/// Where to cut the file (for truncated-dump fixtures).
public enum Truncation: Sendable, Equatable {
    /// Keep exactly this many bytes.
    case fileSize(UInt64)
    /// Keep the first `keep` data pages plus `extraBytes` of the next one.
    case dataPages(keep: Int, extraBytes: Int)
}

/// Everything needed to generate one amd64 minidump; all addresses in bytes.
public struct DumpDescription: Sendable {
    /// Minidump version: 1, 2 or 3.
    public var version: UInt32
    /// Seed of the SplitMix64 generator that places pages.
    public var seed: UInt64
    /// RAM (dump_avail): ascending, page aligned, non-overlapping; gaps are holes.
    public var physicalRanges: [Range<UInt64>]
    /// VA of map entry 0; nil = 0xffffffff80000000 for v1, 0xfffffe0000000000 for v2/v3.
    public var kernbase: UInt64?
    /// First VA of the direct map (DMAP VA = dmapBase + PA).
    public var dmapBase: UInt64
    /// End (exclusive) of the direct map.
    public var dmapEnd: UInt64
    /// v2/v3: number of 1 GiB slots (pmapsize = 4096 * slots); v1: number of 2 MiB chunks (ptesize = 4096 * chunks).
    public var kernelMapSlots: Int
    /// Kernel-map mappings, applied in order (explicit placements are reserved before random ones).
    public var mappings: [KernelMapping]
    /// Number of random dumped pages reachable only through the direct map (UMA-like).
    public var directMapOnlyPages: Int
    /// The message buffer.
    public var messageBuffer: MessageBufferDescription
    /// Bytes written over page contents, applied last, in order.
    public var overlays: [Overlay]
    /// When false, ordinary data pages are zero (holes); page tables, msgbuf and overlays are still written.
    public var stampPages: Bool
    /// Optional cut of the finished file.
    public var truncation: Truncation?

    /// Default kernbase for a version (KERNBASE for v1, VM_MIN_KERNEL_ADDRESS for v2/v3).
    public static func defaultKernbase(version: UInt32) -> UInt64 {
        version == 1 ? 0xffff_ffff_8000_0000 : 0xffff_fe00_0000_0000
    }

    /// The kernbase that will be written to the header.
    public var effectiveKernbase: UInt64 { kernbase ?? DumpDescription.defaultKernbase(version: version) }

    /// Creates a description; the default message buffer is a 96 KiB FreeBSD panic dmesg for `seed`.
    public init(version: UInt32 = 3, seed: UInt64 = 0, physicalRanges: [Range<UInt64>],
                kernbase: UInt64? = nil, dmapBase: UInt64 = 0xffff_f800_0000_0000,
                dmapEnd: UInt64 = 0xffff_fc00_0000_0000, kernelMapSlots: Int = 4,
                mappings: [KernelMapping] = [], directMapOnlyPages: Int = 0,
                messageBuffer: MessageBufferDescription? = nil, overlays: [Overlay] = [],
                stampPages: Bool = true, truncation: Truncation? = nil) {
        self.version = version
        self.seed = seed
        self.physicalRanges = physicalRanges
        self.kernbase = kernbase
        self.dmapBase = dmapBase
        self.dmapEnd = dmapEnd
        self.kernelMapSlots = kernelMapSlots
        self.mappings = mappings
        self.directMapOnlyPages = directMapOnlyPages
        let ram = physicalRanges.reduce(0) { $0 + ($1.upperBound - $1.lowerBound) }
        self.messageBuffer = messageBuffer ?? .panicDmesg(seed: seed, physicalMemory: ram)
        self.overlays = overlays
        self.stampPages = stampPages
        self.truncation = truncation
    }
}

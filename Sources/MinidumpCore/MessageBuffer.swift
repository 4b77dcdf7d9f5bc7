/// The kernel message buffer (spec §4): the ring, its `struct msgbuf`, and the text read from them.

/// The two layouts of `struct msgbuf` (spec §4). Both have the fields read here at the same
/// offsets (through `msg_lastpri`); they differ in size, which decides where a reader finds room
/// for the struct and how many bytes it reads. The sizes and offsets depend on the architecture's
/// pointer size: `MsgbufShape`, which each architecture file gives; `size` is the LP64 one.
public enum MsgbufLayout: String, Sendable, Equatable, CustomStringConvertible {
    /// FreeBSD 9 and later: `msg_flags` and `msg_lock` follow `msg_lastpri`; 72 bytes.
    case current
    /// FreeBSD 7 and 8 (osreldate below 900000): the struct ends after `msg_lastpri`; 40 bytes.
    case freebsd7

    /// `sizeof(struct msgbuf)` on LP64 architectures (amd64): 72 or 40. See `MsgbufShape.size(of:)`.
    public var size: Int { MsgbufShape.lp64.size(of: self) }

    /// The layout a dump's msgbuf section implies: the kernel puts the struct at the end of the
    /// page-rounded region and `msgbufsize` is the region less the struct, so the section's padding
    /// is the struct's size (72, or 40 before FreeBSD 9). Nil when the padding holds neither.
    public static func implied(byPadding padding: UInt64, shape: MsgbufShape = .lp64) -> MsgbufLayout? {
        padding >= UInt64(shape.currentSize) ? .current : padding >= UInt64(shape.freebsd7Size) ? .freebsd7 : nil
    }

    /// The layout of a kernel with this `osreldate` (FreeBSD 9.0 is 900000 and later).
    public static func of(osreldate: UInt32) -> MsgbufLayout { osreldate < 900_000 ? .freebsd7 : .current }

    /// "72-byte (FreeBSD 9 and later)" or "40-byte (FreeBSD 7 and 8)".
    public var description: String { self == .current ? "72-byte (FreeBSD 9 and later)" : "40-byte (FreeBSD 7 and 8)" }
}

/// How an architecture lays out `struct msgbuf`: `msg_ptr` (a pointer) first, then the `u_int`s
/// `msg_magic`, `msg_size`, `msg_wseq`, `msg_rseq`, `msg_cksum`, `msg_seqmod`, `msg_lastpri`, and
/// from FreeBSD 9 `msg_flags` and the lock; the sizes with the padding the compiler adds.
public struct MsgbufShape: Sendable, Equatable {
    /// Bytes of `msg_ptr`: 8 on LP64, 4 on ILP32.
    public let pointerSize: Int
    /// `sizeof(struct msgbuf)` from FreeBSD 9, and in FreeBSD 7 and 8.
    public let currentSize: Int
    public let freebsd7Size: Int

    /// A shape.
    public init(pointerSize: Int, currentSize: Int, freebsd7Size: Int) {
        self.pointerSize = pointerSize
        self.currentSize = currentSize
        self.freebsd7Size = freebsd7Size
    }

    /// amd64's (and every LP64 architecture's): 8-byte pointer, 72 and 40 bytes.
    public static let lp64 = MsgbufShape(pointerSize: 8, currentSize: 72, freebsd7Size: 40)

    /// `sizeof(struct msgbuf)` of `layout`.
    public func size(of layout: MsgbufLayout) -> Int { layout == .current ? currentSize : freebsd7Size }
}

/// The fields of the kernel's `struct msgbuf` (either layout, any pointer size).
public struct MsgbufStructure: Sendable, Equatable {
    /// Size of the current structure in bytes (`MsgbufLayout.current.size`).
    public static let size = 72
    /// The value of `msg_magic` in a valid structure.
    public static let magic: UInt32 = 0x063062
    /// The largest ring read, from the msgbuf section or through `msgbufp`: 64 MiB (the kernel's
    /// default is 96 KiB; `kern.msgbufsize` is set in KiB or a few MiB). A header or structure
    /// claiming more is not believed: at most this many bytes are copied.
    public static let maximumRingSize: UInt32 = 64 << 20

    /// `msg_ptr`: kernel virtual address of the ring.
    public let ringAddress: VirtualAddress
    /// `msg_magic`.
    public let magic: UInt32
    /// `msg_size`: bytes in the ring.
    public let size: UInt32
    /// `msg_wseq`: write sequence number.
    public let writeSequence: UInt32
    /// `msg_rseq`: read sequence number (what syslogd has consumed).
    public let readSequence: UInt32
    /// `msg_seqmod`: sequence numbers run modulo this (16 × msg_size).
    public let sequenceModulus: UInt32
    /// The layout it was read with.
    public let layout: MsgbufLayout

    /// Decodes a `struct msgbuf` of `layout` in `shape` (72 bytes, or 40, on LP64); nil if fewer
    /// bytes are given. Only the fields both layouts share are read.
    public init?(bytes: [UInt8], layout: MsgbufLayout = .current, shape: MsgbufShape = .lp64) {
        guard bytes.count >= shape.size(of: layout), shape.pointerSize == 4 || shape.pointerSize == 8,
              bytes.count >= shape.pointerSize + 24 else { return nil }
        self.layout = layout
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
        let p = shape.pointerSize
        ringAddress = VirtualAddress(UInt64(u32(0)) | (p == 8 ? UInt64(u32(4)) << 32 : 0))
        magic = u32(p)
        size = u32(p + 4)
        writeSequence = u32(p + 8)
        readSequence = u32(p + 12)
        sequenceModulus = u32(p + 20)
    }
}

/// Where the read and write positions of the message buffer came from.
public enum MessageBufferSource: Sendable, Equatable {
    /// A valid `struct msgbuf` (found after the ring in the msgbuf section, or through `msgbufp`).
    case structure(MsgbufStructure)
    /// No valid structure; the text is a best-effort guess explained by `reason`.
    case fallback(reason: String)
}

/// The message buffer: the raw ring and the text a person reads from it.
public struct MessageBuffer: Sendable, Equatable {
    /// The ring bytes as they are in the dump.
    public let ring: [UInt8]
    /// Where the positions came from.
    public let source: MessageBufferSource
    /// The ring unwrapped from the write position, leading NULs (never-written space) removed.
    ///
    /// Without a valid structure: the ring up to its first NUL if it starts with text (a ring
    /// that never wrapped), otherwise the ring as it is (the write position is unknown).
    public let text: [UInt8]
    /// True when the ring has been written all the way round, so its oldest line is probably cut.
    public let wrapped: Bool
    /// What syslogd had not read yet (rseq to wseq, across the end of the ring if need be): what
    /// kgdb prints as "Unread portion of the kernel message buffer". Empty without a structure.
    public let unread: [UInt8]

    /// Decodes `ring` with the positions in `structure`, if it is valid for this ring; without a
    /// structure, `missingReason` says why there is none.
    public init(ring: [UInt8], structure: MsgbufStructure?, missingReason: String = "no struct msgbuf after the ring") {
        let size = ring.count
        guard let structure else {
            self = MessageBuffer(fallbackFor: ring, reason: missingReason)
            return
        }
        guard structure.magic == MsgbufStructure.magic else {
            self = MessageBuffer(fallbackFor: ring, reason: "struct msgbuf has magic \(hex(UInt64(structure.magic))), expected 0x63062")
            return
        }
        guard structure.size == UInt32(truncatingIfNeeded: size), size > 0 else {
            self = MessageBuffer(fallbackFor: ring, reason: "struct msgbuf has msg_size \(structure.size), the ring has \(size) bytes")
            return
        }
        self.ring = ring
        source = .structure(structure)
        let write = Int(structure.writeSequence % structure.size)
        let read = Int(structure.readSequence % structure.size)
        var unwrapped = Array(ring[write...])
        unwrapped.append(contentsOf: ring[..<write])
        let firstText = unwrapped.firstIndex { $0 != 0 } ?? unwrapped.endIndex
        wrapped = firstText == 0
        text = Array(unwrapped[firstText...])
        if read == write {
            unread = []
        } else if read < write {
            unread = Array(ring[read..<write])
        } else {
            unread = Array(ring[read...]) + ring[..<write]
        }
    }

    private init(fallbackFor ring: [UInt8], reason: String) {
        self.ring = ring
        source = .fallback(reason: reason)
        unread = []
        if let first = ring.first, first != 0, let end = ring.firstIndex(of: 0) {
            text = Array(ring[..<end])
            wrapped = false
        } else {
            let start = ring.firstIndex { $0 != 0 } ?? ring.endIndex
            text = Array(ring[start...])
            wrapped = start == 0 && !ring.isEmpty
        }
    }

    /// The text as `dmesg -M` prints it: a leading `<digits>` syslog priority removed from each
    /// line and, unless `all`, lines from facilities other than the kernel skipped. Ends with a
    /// newline unless empty. Like current FreeBSD `dmesg` (which dropped this in main after 14),
    /// the first line of a wrapped ring is kept even though it is probably cut; see `wrapped`.
    public func dmesg(all: Bool = false) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(text.count + 1)
        var lines = text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        for line in lines {
            var body = line[...]
            if body.first == UInt8(ascii: "<"),
               let close = body.firstIndex(of: UInt8(ascii: ">")), close > body.startIndex + 1,
               body[(body.startIndex + 1)..<close].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                let digits = body[(body.startIndex + 1)..<close]
                let priority = digits.count <= 9 ? digits.reduce(0) { $0 * 10 + Int($1 - 0x30) } : Int.max
                if !all && priority >> 3 != 0 { continue }
                body = body[(close + 1)...]
            }
            output.append(contentsOf: body)
            output.append(UInt8(ascii: "\n"))
        }
        return output
    }
}

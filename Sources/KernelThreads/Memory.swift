/// Checked reads of kernel memory and ddb-style symbolization.
import KernelImage
import MinidumpCore

/// Kernel memory of a dump: every read is checked, a failure gives nil or a reason, never a trap.
struct Memory: Sendable {
    let dump: Dump

    /// `va` as the dump's addresses are shown: `0x` and its pointer width in digits (`Dump.addressWidth`).
    func hexAddress(_ va: UInt64) -> String { dump.addressWidth.format(va) }

    /// The little-endian 64-bit word at `va`, or nil.
    func u64(_ va: UInt64) -> UInt64? {
        guard va <= UInt64.max - 7 else { return nil }
        return try? dump.readUInt64(VirtualAddress(va))
    }

    /// The little-endian 32-bit word at `va`, or nil.
    func u32(_ va: UInt64) -> UInt32? {
        guard let b = bytes(va, 4) else { return nil }
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }

    /// The little-endian pointer of `size` bytes (4 or 8) at `va`, or nil.
    func pointer(_ va: UInt64, size: Int) -> UInt64? {
        size == 4 ? u32(va).map { UInt64($0) } : u64(va)
    }

    /// `count` bytes at `va`, or nil if any is unreadable.
    func bytes(_ va: UInt64, _ count: Int) -> [UInt8]? {
        guard count >= 0, va <= UInt64.max - UInt64(count) else { return nil }
        let result = dump.read(VirtualAddress(va), count: count)
        return result.error == nil ? result.bytes : nil
    }

    /// Like `bytes`, but says why a read failed.
    func bytesOrReason(_ va: UInt64, _ count: Int) -> Result<[UInt8], ReadFailure> {
        guard count >= 0, va <= UInt64.max - UInt64(count) else { return .failure(ReadFailure(reason: "address range wraps")) }
        let result = dump.read(VirtualAddress(va), count: count)
        if let error = result.error { return .failure(ReadFailure(reason: "\(error.reason)")) }
        return .success(result.bytes)
    }
}

/// Words read through a one-page cache: a thread's frames mostly lie in one or two pages of its stack, so
/// one 4 KiB read replaces two translations per frame. A page that cannot be read whole falls back to
/// word reads, so what is readable is exactly what `Memory.u64` can read.
struct PageReader {
    let memory: Memory
    /// VA of the cached page; 1 (not page aligned) when none.
    private var page: UInt64 = 1
    private var bytes: [UInt8] = []

    init(memory: Memory) { self.memory = memory }

    mutating func u64(_ va: UInt64) -> UInt64? {
        let offset = Int(va & 0xfff)
        guard offset <= 0xff8 else { return memory.u64(va) }
        let base = va & ~0xfff
        if base != page {
            let result = memory.dump.read(VirtualAddress(base), count: 4096)
            guard result.error == nil, result.bytes.count == 4096 else { return memory.u64(va) }
            bytes = result.bytes
            page = base
        }
        var value: UInt64 = 0
        for i in (0..<8).reversed() { value = value << 8 | UInt64(bytes[offset + i]) }
        return value
    }

    /// The 32-bit word at `va` through the same cache.
    mutating func u32(_ va: UInt64) -> UInt32? {
        let offset = Int(va & 0xfff)
        guard offset <= 0xffc else { return memory.u32(va) }
        let base = va & ~0xfff
        if base != page {
            let result = memory.dump.read(VirtualAddress(base), count: 4096)
            guard result.error == nil, result.bytes.count == 4096 else { return memory.u32(va) }
            bytes = result.bytes
            page = base
        }
        return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }
}

/// A failed read, in words.
struct ReadFailure: Error {
    let reason: String
}

/// Little-endian fields of a byte array read from the dump; out-of-range fields read as nil.
struct Fields {
    let bytes: [UInt8]
    /// The address `bytes[0]` was read from.
    let base: Int

    func u64(_ offset: Int) -> UInt64? {
        let at = offset - base
        guard at >= 0, at <= bytes.count - 8 else { return nil }
        var v: UInt64 = 0
        for i in (0..<8).reversed() { v = v << 8 | UInt64(bytes[at + i]) }
        return v
    }

    /// A pointer of `size` bytes (4 or 8).
    func pointer(_ offset: Int, size: Int) -> UInt64? {
        size == 4 ? u32(offset).map { UInt64($0) } : u64(offset)
    }

    func u32(_ offset: Int) -> UInt32? {
        let at = offset - base
        guard at >= 0, at <= bytes.count - 4 else { return nil }
        return UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }

    /// A `char[MAXCOMLEN + 1]` (20 bytes) up to its NUL, invalid UTF-8 replaced.
    func name(_ offset: Int) -> String? {
        let at = offset - base
        guard at >= 0, at <= bytes.count - 20 else { return nil }
        let field = bytes[at..<(at + 20)]
        return String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// Addresses to `func+0xoff` the way the kernel's ddb and stack(9) do it (spec §7): the symbol with
/// the largest value at or below the address among all named, defined symbols (any type; the later
/// one on ties; st_size ignored), and nothing when the distance is 64 KiB (`db_maxoff`) or more.
/// FILE, SECTION and absolute symbols are left out (they are not code or data addresses).
public struct KernelSymbolizer: Sendable {
    /// Sorted by value; for equal values only the last one of the table is kept.
    private let values: [UInt64]
    private let names: [String]
    /// Per entry: a small tag from the architecture's classifier (trap stubs), 0 for none.
    private let tags: [UInt8]
    /// ddb's `db_maxoff`.
    public static let maximumOffset: UInt64 = 0x10000

    /// Indexes the symbols of `kernel`.
    public init(kernel: KernelImage) {
        self.init(kernel: kernel, classify: { _ in 0 })
    }

    /// Indexes the symbols of `kernel`, tagging each name with `classify` once.
    init(kernel: KernelImage, classify: (String) -> UInt8) {
        var entries: [(UInt64, Int, String)] = []
        entries.reserveCapacity(kernel.symbols.count)
        for (i, s) in kernel.symbols.enumerated() where s.isDefined && !s.name.isEmpty && s.sectionIndex != Symbol.absoluteSection {
            switch s.kind {
            case .section, .file: continue
            default: entries.append((s.value, i, s.name))
            }
        }
        entries.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        var values: [UInt64] = []
        var names: [String] = []
        for e in entries {
            if values.last == e.0 {
                names[names.count - 1] = e.2
            } else {
                values.append(e.0)
                names.append(e.2)
            }
        }
        self.values = values
        self.names = names
        tags = names.map(classify)
    }

    /// The entry at or below `address` within `maximumOffset`, and the distance.
    func entry(_ address: UInt64) -> (index: Int, offset: UInt64)? {
        var low = 0, high = values.count
        while low < high {
            let mid = low + (high - low) / 2
            if values[mid] <= address { low = mid + 1 } else { high = mid }
        }
        guard low > 0 else { return nil }
        let offset = address - values[low - 1]
        guard offset < KernelSymbolizer.maximumOffset else { return nil }
        return (low - 1, offset)
    }

    func name(_ index: Int) -> String { names[index] }
    func tag(_ index: Int) -> UInt8 { tags[index] }

    /// The symbol at or below `address` and the distance, or nil.
    public func lookup(_ address: UInt64) -> (name: String, offset: UInt64)? {
        entry(address).map { (names[$0.index], $0.offset) }
    }

    /// `func+0xoff`, `func`, or the hex address.
    public func describe(_ address: UInt64) -> String {
        guard let (name, offset) = lookup(address) else { return hex(address) }
        return offset == 0 ? name : "\(name)+\(hex(offset))"
    }
}

import MappedBytes

/// A FreeBSD kernel image (`/boot/kernel/kernel`): an ELF64 (amd64) or ELF32 (i386) little-endian file,
/// opened read-only, with its sections, loadable segments and symbols, and reads of the
/// initialised data it carries, by virtual address.
///
/// Immutable after init and safe to share between threads.
public final class KernelImage: Sendable {
    /// The path given to `init(path:)`, or the name given to `init(bytes:name:)`; every
    /// error description starts with it.
    public let path: String
    /// Size of the file in bytes.
    public let fileSize: Int
    /// `e_type` (ET_EXEC = 2 for a kernel, ET_DYN = 3, ET_REL = 1).
    public let fileType: UInt16
    /// `e_machine`; EM_X86_64 (62) for an amd64 kernel, EM_386 (3) for i386, but any value is accepted.
    public let machine: UInt16
    /// `EI_CLASS`: ELF64, or ELF32 (an i386 kernel).
    public let elfClass: ELFClass
    /// `EI_OSABI` (ELFOSABI_FREEBSD = 9).
    public let osABI: UInt8
    /// `e_entry`: the entry point's virtual address.
    public let entry: UInt64
    /// All section headers, in file order (index 0 is the null section).
    public let sections: [Section]
    /// All program headers, in file order.
    public let segments: [Segment]
    /// All symbols of `.symtab` then `.dynsym`, in table order (including each table's null entry).
    public let symbols: [Symbol]

    /// EM_X86_64.
    public static let machineX86_64: UInt16 = 62

    private let storage: MappedFile
    /// Name → index in `symbols` of the preferred symbol with that name.
    private let byName: [String: Int]
    /// Indices of symbols usable for symbolization, sorted by (value, preference).
    private let byAddress: [Int]
    /// Indices of sized OBJECT/FUNC symbols, sorted by (value, preference).
    private let sizedByAddress: [Int]

    /// Opens and parses the file at `path` (mapped read-only, never written).
    ///
    /// Throws `KernelImageError` if the file cannot be opened or mapped, or is not a
    /// well-formed ELF64 or ELF32 little-endian file (see the error cases).
    public convenience init(path: String) throws(KernelImageError) {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch {
            throw KernelImageError(error, file: path)
        }
        try self.init(storage: file, label: path)
    }

    /// Parses an image held in memory (copied); `name` labels errors in place of a path.
    ///
    /// Throws `KernelImageError` as `init(path:)` does for malformed contents.
    public convenience init(bytes: [UInt8], name: String) throws(KernelImageError) {
        try self.init(storage: MappedFile(name: name, contents: bytes), label: name)
    }

    private init(storage: MappedFile, label: String) throws(KernelImageError) {
        let elf = try ELFParser(view: storage.bytes, file: label).parse()
        self.storage = storage
        path = label
        fileSize = storage.bytes.count
        fileType = elf.fileType
        machine = elf.machine
        elfClass = elf.elfClass
        osABI = elf.osABI
        entry = elf.entry
        sections = elf.sections
        segments = elf.segments
        symbols = elf.symbols
        byName = KernelImage.nameIndex(elf.symbols)
        (byAddress, sizedByAddress) = KernelImage.addressIndex(elf.symbols)
    }

    // MARK: Symbols

    /// The symbol called `name`, or nil. When several share the name, a defined one beats
    /// an undefined one, then global beats weak beats local, then `.symtab` beats `.dynsym`,
    /// then the earlier entry wins.
    public func symbol(named name: String) -> Symbol? {
        byName[name].map { symbols[$0] }
    }

    /// The symbol `address` belongs to and the offset into it in bytes, or nil.
    ///
    /// A sized OBJECT/FUNC symbol containing `address` (checked among the 8 sized symbols
    /// starting nearest at or below it) is preferred; otherwise the nearest
    /// defined symbol at or below `address` (sized OBJECT/FUNC first among equal values,
    /// then global, weak, local), provided `address` lies in a loadable segment or an
    /// allocated section. SECTION, FILE, absolute and unnamed symbols are never used.
    public func symbolize(_ address: UInt64) -> (symbol: Symbol, offset: UInt64)? {
        let sized = upperBound(sizedByAddress, address)
        var i = sized
        while i > 0 && sized - i < 8 {
            i -= 1
            let s = symbols[sizedByAddress[i]]
            if address - s.value < s.size { return (s, address - s.value) }
        }
        let nearest = upperBound(byAddress, address)
        guard nearest > 0, isMapped(address) else { return nil }
        let s = symbols[byAddress[nearest - 1]]
        return (s, address - s.value)
    }

    /// `address` as `name+0xoffset` (or `name` at offset 0), or nil when `symbolize` finds nothing.
    public func describe(_ address: UInt64) -> String? {
        guard let (symbol, offset) = symbolize(address) else { return nil }
        return offset == 0 ? symbol.name : "\(symbol.name)+\(hex(offset))"
    }

    /// The first index in `indices` whose symbol value is greater than `address`.
    private func upperBound(_ indices: [Int], _ address: UInt64) -> Int {
        var low = 0, high = indices.count
        while low < high {
            let mid = low + (high - low) / 2
            if symbols[indices[mid]].value <= address { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Global over weak over local over anything else.
    private static func bindingRank(_ binding: Symbol.Binding) -> Int {
        switch binding {
        case .global: 3
        case .weak: 2
        case .local: 1
        case .other: 0
        }
    }

    private static func nameRank(_ s: Symbol) -> Int {
        (s.isDefined ? 16 : 0) + bindingRank(s.binding) * 2 + (s.isDynamic ? 0 : 1)
    }

    private static func nameIndex(_ symbols: [Symbol]) -> [String: Int] {
        var index: [String: Int] = [:]
        index.reserveCapacity(symbols.count)
        for (i, s) in symbols.enumerated() where !s.name.isEmpty {
            if let old = index[s.name], nameRank(symbols[old]) >= nameRank(s) { continue }
            index[s.name] = i
        }
        return index
    }

    private static func isSizedCode(_ s: Symbol) -> Bool {
        s.size > 0 && (s.kind == .object || s.kind == .function)
    }

    private static func addressRank(_ s: Symbol) -> Int {
        (isSizedCode(s) ? 8 : 0) + bindingRank(s.binding)
    }

    /// Sorted by value, then rank ascending, then table order descending, so the last entry
    /// at or below an address is the preferred one.
    private static func addressIndex(_ symbols: [Symbol]) -> ([Int], [Int]) {
        let usable = symbols.indices.filter { i in
            let s = symbols[i]
            return s.isDefined && s.sectionIndex != Symbol.absoluteSection && !s.name.isEmpty
                && s.kind != .section && s.kind != .file
        }
        let sorted = usable.sorted { a, b in
            let sa = symbols[a], sb = symbols[b]
            if sa.value != sb.value { return sa.value < sb.value }
            let ra = addressRank(sa), rb = addressRank(sb)
            if ra != rb { return ra < rb }
            return a > b
        }
        return (sorted, sorted.filter { isSizedCode(symbols[$0]) })
    }

    // MARK: Initialised data

    /// Where a virtual address lands in the file.
    private struct Location {
        /// File offset of the byte at the address (meaningful when `initialised > 0`).
        let fileOffset: UInt64
        /// Bytes from the address to the end of the file-backed part of its region.
        let initialised: UInt64
        /// Bytes from the address to the end of its region in memory.
        let mapped: UInt64
    }

    /// The PT_LOAD segment containing `va`, else the allocated section containing it.
    private func locate(_ va: UInt64) -> Location? {
        for s in segments where s.isLoad && va >= s.virtualAddress && va - s.virtualAddress < s.memorySize {
            let rel = va - s.virtualAddress
            let initialised = rel < s.fileSize ? s.fileSize - rel : 0
            return Location(fileOffset: s.offset &+ rel, initialised: initialised, mapped: s.memorySize - rel)
        }
        for s in sections where s.isAllocated && va >= s.address && va - s.address < s.size {
            let rel = va - s.address
            let initialised = s.type == Section.typeNoBits ? 0 : s.size - rel
            return Location(fileOffset: s.offset &+ rel, initialised: initialised, mapped: s.size - rel)
        }
        return nil
    }

    private func isMapped(_ va: UInt64) -> Bool { locate(va) != nil }

    /// A name for the memory at `va`: the allocated section containing it, else its segment.
    private func regionName(_ va: UInt64) -> String {
        if let s = sections.first(where: { $0.isAllocated && va >= $0.address && va - $0.address < $0.size }) {
            return s.name.isEmpty ? "section \(s.index)" : s.name
        }
        if let s = segments.first(where: { $0.isLoad && va >= $0.virtualAddress && va - $0.virtualAddress < $0.memorySize }) {
            return "PT_LOAD segment \(s.index)"
        }
        return "unknown region"
    }

    /// The `count` bytes at virtual address `va`, as stored in the image.
    ///
    /// The range must lie within one PT_LOAD segment (or, failing that, one allocated
    /// section). Throws `.notInitialised` if any byte is in the zero-filled part (such as
    /// `.bss`), `.unmappedAddress` if the range is not covered, `.invalidArgument` if
    /// `count` is negative. A `count` of 0 returns `[]` whatever `va` is.
    public func initialisedBytes(at va: UInt64, count: Int) throws(KernelImageError) -> [UInt8] {
        guard count >= 0 else { throw .invalidArgument(file: path, argument: "count", value: count) }
        guard count > 0 else { return [] }
        let n = UInt64(count)
        guard let loc = locate(va), n <= loc.mapped else {
            throw .unmappedAddress(file: path, address: va, count: n)
        }
        guard n <= loc.initialised else {
            throw .notInitialised(file: path, address: va, count: n, region: regionName(va + loc.initialised))
        }
        guard let bytes = storage.bytes.bytes(at: loc.fileOffset, length: n) else {
            throw .truncated(file: path, what: "data for address \(hex(va))", offset: loc.fileOffset,
                             entrySize: n, count: 1, fileSize: UInt64(fileSize))
        }
        return bytes
    }

    /// The little-endian UInt32 at virtual address `va`; errors as `initialisedBytes`.
    public func readU32(at va: UInt64) throws(KernelImageError) -> UInt32 {
        try initialisedBytes(at: va, count: 4).reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The little-endian UInt64 at virtual address `va`; errors as `initialisedBytes`.
    public func readU64(at va: UInt64) throws(KernelImageError) -> UInt64 {
        try initialisedBytes(at: va, count: 8).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The NUL-terminated string at virtual address `va`, at most `maxLength` bytes long
    /// (not counting the NUL), decoded as UTF-8 with invalid sequences repaired.
    ///
    /// Throws `.stringTooLong` if no NUL occurs within `maxLength` bytes,
    /// `.notInitialised` / `.unmappedAddress` if the string runs out of initialised data
    /// first, `.invalidArgument` if `maxLength` is negative.
    public func cString(at va: UInt64, maxLength: Int) throws(KernelImageError) -> String {
        guard maxLength >= 0 else { throw .invalidArgument(file: path, argument: "maxLength", value: maxLength) }
        guard let loc = locate(va) else { throw .unmappedAddress(file: path, address: va, count: 1) }
        let wanted = UInt64(maxLength) + 1
        let scan = min(wanted, loc.initialised)
        let view = storage.bytes
        if scan > 0, let nul = view.firstOffset(of: 0, at: loc.fileOffset, length: scan) {
            return view.string(at: loc.fileOffset, length: nul - loc.fileOffset) ?? ""
        }
        if scan == wanted { throw .stringTooLong(file: path, address: va, maxLength: maxLength) }
        if loc.initialised < loc.mapped {
            throw .notInitialised(file: path, address: va, count: scan + 1, region: regionName(va + scan))
        }
        throw .unmappedAddress(file: path, address: va, count: scan + 1)
    }
}

/// The kernel map (and the direct-map-only pages) as coalesced ranges: what `kvmdump pages` lists.

/// A run of mapped pages whose virtual and physical addresses both continue each other, with
/// equal map, page size, protection and state.
public struct PageRange: Sendable, Equatable {
    /// Whether the range's pages are in the file.
    public enum State: String, Sendable {
        /// Every page (every piece of the dump's page size) is in the file.
        case present
        /// No page is.
        case absent
        /// A large page only some of whose pieces are in the file.
        case partial
    }

    /// The map the pages are in.
    public let map: AddressMap
    /// First virtual address.
    public let virtualStart: UInt64
    /// First physical address.
    public let physicalStart: UInt64
    /// Bytes the range spans.
    public internal(set) var size: UInt64
    /// Bytes of each page in it.
    public let pageSize: UInt64
    /// The entries' write bit (direct-map pages: true).
    public let writable: Bool
    /// True unless the entries' no-execute bit is set (direct-map pages: false).
    public let executable: Bool
    /// Whether the pages are in the file.
    public let state: State

    /// Extends the range by `next` if it continues it; returns false otherwise.
    mutating func absorb(_ next: PageRange) -> Bool {
        guard next.map == map, next.virtualStart == virtualStart &+ size, next.physicalStart == physicalStart &+ size,
              next.pageSize == pageSize, next.writable == writable, next.executable == executable, next.state == state
        else { return false }
        size &+= next.size
        return true
    }
}

extension Dump {
    /// The kernel map as coalesced ranges in VA order, followed (if `includeDirectMap`) by the
    /// dumped pages reachable only through the direct map, in physical order.
    public func pageRanges(includeDirectMap: Bool) -> [PageRange] {
        var ranges: [PageRange] = []
        func add(_ range: PageRange) {
            if ranges.isEmpty || !ranges[ranges.count - 1].absorb(range) { ranges.append(range) }
        }
        forEachKernelPage { page in
            let pieces = Int(page.size.bytes / pageSize)
            add(PageRange(
                map: .kernelMap, virtualStart: page.virtualAddress.rawValue, physicalStart: page.physicalAddress.rawValue,
                size: page.size.bytes, pageSize: page.size.bytes, writable: page.writable, executable: page.executable,
                state: page.presentPages == pieces ? .present : page.presentPages == 0 ? .absent : .partial))
            return true
        }
        if includeDirectMap {
            forEachDirectMapOnlyPage { page, offset in
                add(PageRange(
                    map: .directMap, virtualStart: directMapAddress(ofPhysical: page)?.rawValue ?? 0,
                    physicalStart: page.rawValue, size: pageSize, pageSize: pageSize,
                    writable: true, executable: false, state: offset == nil ? .absent : .present))
                return true
            }
        }
        return ranges
    }
}

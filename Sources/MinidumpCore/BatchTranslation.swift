import MappedBytes

/// Batch translation and reads (issue 15): the same answers as `translate(_:)` and `readUInt64(_:)`
/// one address at a time, but the walks of a group of addresses are interleaved: the architecture
/// walks the whole group in one call (`MinidumpArchitecture.walks`, amd64 loading every map entry,
/// then every PTE, before any walk uses them), then the container's bitmap words and bins are
/// prefetched for every page before any lookup, so the cache misses of independent addresses
/// overlap. Any address the fast path cannot answer (every failure) goes through the ordinary
/// `translate(_:)`, so errors are the same.

/// One group of a pipelined batch: positions `start..<end`, their walks, bitmap bits and (reads)
/// file offsets.
struct GroupWalks {
    var start = 0
    var end = 0
    var walks: [MapWalk?] = []
    var bits: [UInt64] = []
    var offsets: [UInt64] = []

    init() {
        walks.reserveCapacity(Dump.batchGroup)
        bits.reserveCapacity(Dump.batchGroup)
        offsets.reserveCapacity(Dump.batchGroup)
    }
}

/// The bitmap container held by reference, so a prefetch hint does not copy it.
final class BitmapPrefetcher: Sendable {
    let container: BitmapContainer
    init(_ container: BitmapContainer) { self.container = container }
}

extension Dump {
    /// Addresses whose walks are interleaved.
    public static let batchGroup = 64

    /// Batches of at least this many addresses ask for the dump mapped in 2 MiB pages
    /// (`MappedFile.adviseHugePages`), for the rest of the process: random addresses by the
    /// hundred thousand touch most 2 MiB stretches of a dump anyway, and one TLB entry per stretch
    /// instead of 512 doubles their reads (BENCHMARKS.md). Smaller batches, and the walks of `ps`,
    /// `bt` and `export`, keep 4 KiB pages: a 2 MiB page is read, and counted resident, whole.
    public static let hugePageBatch = 1 << 16

    /// The hint of `hugePageBatch` for a batch of `count` addresses.
    private func adviseForBatch(of count: Int) {
        if count >= Self.hugePageBatch { file.adviseHugePages() }
    }

    /// The fast path's translation of `va`, whose walk is `walk` and whose page is bitmap bit `bit`
    /// (`.max`: none), as `prefetchGroup` found them; nil where the ordinary walk must answer (for
    /// the error, or because the file shrank).
    @inline(__always)
    private func fastTranslation(_ va: VirtualAddress, _ walk: MapWalk?, _ bit: UInt64,
                                 _ container: BitmapContainer) -> Translation? {
        guard let walk, bit != .max else { return nil }
        let pa = PhysicalAddress(walk.physicalAddress.rawValue | (va.rawValue & (container.pageSize &- 1)))
        // A walk that read zeros where the file lost its bytes must not be believed.
        guard let located = try? container.locate(pa, bit: bit, bytes: 1), !file.hasShrunk else { return nil }
        return Translation(va, walk: walk, physicalAddress: pa, located: located, pageSize: container.pageSize)
    }

    /// The architecture's interleaved walks of `group` into `walks`, then the bitmap bit of every
    /// page they found into `bits` (`.max`: none), its bitmap word and bins prefetched before any lookup.
    @inline(__always)
    private func prefetchGroup(_ group: ArraySlice<VirtualAddress>, _ container: BitmapContainer,
                               _ walks: inout [MapWalk?], _ bits: inout [UInt64]) {
        architecture.walks(group, into: &walks)
        bits.removeAll(keepingCapacity: true)
        let mask = container.pageSize &- 1
        var k = 0
        for va in group {
            if let walk = walks[k], let bit = container.prefetch(PhysicalAddress(walk.physicalAddress.rawValue | (va.rawValue & mask))) {
                bits.append(bit)
            } else {
                bits.append(.max)
            }
            k &+= 1
        }
    }

    /// Makes `group` the next group of `addresses`, from `start` (empty past the end), with its walks
    /// and bitmap prefetches (`prefetchGroup`).
    @inline(__always)
    private func walkGroup(_ group: inout GroupWalks, from start: Int, of addresses: [VirtualAddress],
                           _ container: BitmapContainer) {
        group.start = start
        group.end = min(start + Self.batchGroup, addresses.count)
        if group.start < group.end { prefetchGroup(addresses[group.start..<group.end], container, &group.walks, &group.bits) }
    }

    /// Translates every address in `addresses`, calling `body` with its position and its result, in
    /// order. Builds the whole index first (`buildIndex()`), as batch work should. Groups are
    /// pipelined: the walks and prefetches of the next group are issued before the lookups of this
    /// one, so the misses of one group overlap the work of the other.
    public func translate(_ addresses: [VirtualAddress], _ body: (Int, Result<Translation, TranslationError>) -> Void) {
        buildIndex()
        adviseForBatch(of: addresses.count)
        guard let container = bitmapPages?.container else {
            for (position, va) in addresses.enumerated() {
                do { body(position, .success(try translate(va))) } catch { body(position, .failure(error)) }
            }
            return
        }
        var current = GroupWalks(), next = GroupWalks()
        walkGroup(&current, from: 0, of: addresses, container)
        while current.start < current.end {
            walkGroup(&next, from: current.end, of: addresses, container)
            for position in current.start..<current.end {
                let va = addresses[position]
                if let translation = fastTranslation(va, current.walks[position &- current.start], current.bits[position &- current.start], container) {
                    body(position, .success(translation))
                    continue
                }
                do {
                    body(position, .success(try translate(va)))
                } catch {
                    body(position, .failure(error))
                }
            }
            swap(&current, &next)
        }
    }

    /// The translations of `addresses`, in order (see `translate(_:_:)`).
    public func translate(_ addresses: [VirtualAddress]) -> [Result<Translation, TranslationError>] {
        var results: [Result<Translation, TranslationError>] = []
        results.reserveCapacity(addresses.count)
        translate(addresses) { _, result in results.append(result) }
        return results
    }

    /// Reads the 64-bit word at every address in `addresses`, as `readUInt64(_:)` does, calling
    /// `body` with its position and its result, in order. Pipelined as `translate(_:_:)`, one stage
    /// deeper: a group's data words are prefetched once its translations are known, and read only
    /// after the next group has been translated.
    public func readUInt64(_ addresses: [VirtualAddress], _ body: (Int, Result<UInt64, TranslationError>) -> Void) {
        buildIndex()
        adviseForBatch(of: addresses.count)
        guard let container = bitmapPages?.container else {
            for (position, va) in addresses.enumerated() {
                do { body(position, .success(try readUInt64(va))) } catch { body(position, .failure(error)) }
            }
            return
        }
        let bytes = file.bytes
        var walked = GroupWalks(), current = GroupWalks(), next = GroupWalks()
        /// The walked group's file offsets (`.max`: ask `readUInt64(_:)`), their words prefetched.
        func locate(_ group: inout GroupWalks) {
            group.offsets.removeAll(keepingCapacity: true)
            guard group.start < group.end else { return }
            for position in group.start..<group.end {
                let translation = fastTranslation(addresses[position], group.walks[position &- group.start],
                                                  group.bits[position &- group.start], container)
                let offset = translation.map { $0.contiguousBytes >= 8 ? $0.fileOffset.rawValue : .max } ?? .max
                if offset != .max { bytes.prefetch(offset) }
                group.offsets.append(offset)
            }
        }
        walkGroup(&current, from: 0, of: addresses, container)
        locate(&current)
        walkGroup(&walked, from: current.end, of: addresses, container)
        while current.start < current.end {
            walkGroup(&next, from: walked.end, of: addresses, container)
            locate(&walked)
            for position in current.start..<current.end {
                let offset = current.offsets[position &- current.start]
                if offset != .max, let word = bytes.uint64(at: offset), !file.hasShrunk {
                    body(position, .success(word))
                    continue
                }
                do {
                    body(position, .success(try readUInt64(addresses[position])))
                } catch {
                    body(position, .failure(error))
                }
            }
            swap(&current, &walked)
            swap(&walked, &next)
        }
    }

    /// Reads every request (`count` bytes at `address`), as `read(_:count:)` does, in order; the
    /// walks of the requests' first pages are interleaved.
    public func read(_ requests: [(address: VirtualAddress, count: Int)]) -> [ReadResult] {
        buildIndex()
        var results: [ReadResult] = []
        results.reserveCapacity(requests.count)
        var walks: [MapWalk?] = []
        walks.reserveCapacity(Self.batchGroup)
        var start = 0
        while start < requests.count {
            let end = min(start + Self.batchGroup, requests.count)
            architecture.walks(ArraySlice(requests[start..<end].map(\.address)), into: &walks)
            for position in start..<end { results.append(read(requests[position].address, count: requests[position].count)) }
            start = end
        }
        return results
    }
}

import MappedBytes

/// Batch translation and reads (issue 15): the same answers as `translate(_:)` and `readUInt64(_:)`
/// one address at a time, but the walks of a group of addresses are interleaved: every stage of the
/// page-table walk (map entry, PTE, bitmap word and bin counts) is prefetched for the whole group
/// before any address uses it, so the cache misses of independent addresses overlap instead of
/// following one another. The prefetches are hints only; each answer comes from the ordinary walk.

/// The bitmap container held by reference, so a prefetch hint does not copy it.
final class BitmapPrefetcher: Sendable {
    let container: BitmapContainer
    init(_ container: BitmapContainer) { self.container = container }
}

extension Dump {
    /// Addresses whose walks are interleaved.
    public static let batchGroup = 16

    /// Issues the prefetch stages of the walks of `group`, then of the data bytes' index entries.
    @inline(__always)
    private func prefetchWalks(_ group: ArraySlice<VirtualAddress>) {
        guard let pages = bitmapPages else { return }
        let architecture = architecture
        for stage in 0..<3 {
            for va in group {
                if let pa = architecture.prefetch(va, stage: stage) { pages.container.prefetch(pa) }
            }
        }
    }

    /// Translates every address in `addresses`, calling `body` with its position and its result, in
    /// order. Builds the whole index first (`buildIndex()`), as batch work should.
    public func translate(_ addresses: [VirtualAddress], _ body: (Int, Result<Translation, TranslationError>) -> Void) {
        buildIndex()
        var start = 0
        while start < addresses.count {
            let end = min(start + Self.batchGroup, addresses.count)
            prefetchWalks(addresses[start..<end])
            for position in start..<end {
                do {
                    body(position, .success(try translate(addresses[position])))
                } catch {
                    body(position, .failure(error))
                }
            }
            start = end
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
    /// `body` with its position and its result, in order; the data words of a group are prefetched
    /// once its translations are known.
    public func readUInt64(_ addresses: [VirtualAddress], _ body: (Int, Result<UInt64, TranslationError>) -> Void) {
        buildIndex()
        let bytes = file.bytes
        var offsets = [UInt64](repeating: .max, count: Self.batchGroup)
        var start = 0
        while start < addresses.count {
            let end = min(start + Self.batchGroup, addresses.count)
            prefetchWalks(addresses[start..<end])
            for position in start..<end {
                let translation = try? translate(addresses[position])
                let offset = translation.map { $0.contiguousBytes >= 8 ? $0.fileOffset.rawValue : UInt64.max } ?? .max
                offsets[position - start] = offset
                if offset != .max { bytes.prefetch(offset) }
            }
            for position in start..<end {
                let offset = offsets[position - start]
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
            start = end
        }
    }

    /// Reads every request (`count` bytes at `address`), as `read(_:count:)` does, in order; the
    /// walks of the requests' first pages are interleaved.
    public func read(_ requests: [(address: VirtualAddress, count: Int)]) -> [ReadResult] {
        buildIndex()
        var results: [ReadResult] = []
        results.reserveCapacity(requests.count)
        var start = 0
        while start < requests.count {
            let end = min(start + Self.batchGroup, requests.count)
            prefetchWalks(ArraySlice(requests[start..<end].map(\.address)))
            for position in start..<end { results.append(read(requests[position].address, count: requests[position].count)) }
            start = end
        }
        return results
    }
}

import MappedBytes

/// Reads of physical memory, for every container (`kvmdump read --physical`).
extension Dump {
    /// Reads `count` bytes of physical memory from `pa`, page by page, through the container.
    /// A read that stops early returns the bytes before the first unreadable address and the error
    /// for that address (its `virtualAddress` field holds the physical address).
    public func readPhysical(_ pa: PhysicalAddress, count: Int) -> ReadResult {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(max(count, 0), 1 << 20))
        var cursor = pa.rawValue
        var remaining = max(count, 0)
        while remaining > 0 {
            guard let offset = fileOffset(ofPhysical: PhysicalAddress(cursor)) else {
                return ReadResult(bytes: bytes, error: physicalMiss(PhysicalAddress(cursor)))
            }
            let inPage = Int(pageSize - (cursor & (pageSize &- 1)))
            let n = min(remaining, inPage)
            prepareFileBytes(offset: offset.rawValue, length: UInt64(n))
            guard fileBytes.append(at: offset.rawValue, length: UInt64(n), to: &bytes) else {
                return ReadResult(bytes: bytes, error: physicalMiss(PhysicalAddress(cursor)))
            }
            remaining -= n
            let (next, overflow) = cursor.addingReportingOverflow(UInt64(n))
            if overflow && remaining > 0 { return ReadResult(bytes: bytes, error: physicalMiss(PhysicalAddress(cursor))) }
            cursor = next
        }
        if let size = shrunkFileSize {
            return ReadResult(bytes: [], error: TranslationError(virtualAddress: VirtualAddress(pa.rawValue),
                                                                 reason: .fileShrank(size: size, openedSize: fileSize)))
        }
        return ReadResult(bytes: bytes, error: nil)
    }

    /// Why the page at `pa` is not readable, in the container's words.
    private func physicalMiss(_ pa: PhysicalAddress) -> TranslationError {
        let at = VirtualAddress(pa.rawValue)
        do throws(ContainerMiss) {
            _ = try containerStorage.locate(PhysicalAddress(pa.rawValue & ~(pageSize &- 1)), bytes: pageSize)
            return TranslationError(virtualAddress: at, reason: .pagePastEndOfFile(pa, offset: FileOffset(fileSize), fileSize: fileSize))
        } catch {
            return TranslationError(virtualAddress: at, reason: containerStorage.container.reason(error, pa))
        }
    }
}

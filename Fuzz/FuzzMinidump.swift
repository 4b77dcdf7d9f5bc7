/// libFuzzer entry point: opens arbitrary bytes as a dump and exercises everything that reads it.
/// Built by `make fuzz-build` against the instrumented MinidumpCore library (not part of the package).
///
/// Work per input is bounded by budgets (pages visited, addresses probed) so that a slow path shows
/// up as a libFuzzer timeout only when one call is slow, not because the harness loops a lot.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MappedBytes
@testable import MinidumpCore

/// Pages of each enumeration the harness follows with reads.
private let pageBudget = 64
/// Errors per input whose text is formatted (formatting is slow; one of each kind is enough).
nonisolated(unsafe) private var describeBudget = 0

/// Once per process: special files are refused at once, without blocking (a FIFO without a writer
/// used to hang in `open`). A failure stops the fuzzer.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let fifo = "/tmp/kvmdump-fuzz-fifo-\(getpid())"
    unlink(fifo)
    defer { unlink(fifo) }
    guard mkfifo(fifo, 0o600) == 0 else { return 0 }
    for path in [fifo, "/tmp", "/dev/null"] {
        do {
            _ = try Dump(path: path)
            fatalError("\(path) opened as a dump")
        } catch {
            guard case .notRegularFile = error.problem else { fatalError("\(path): \(error)") }
        }
    }
    return 0
}

/// Where inputs are written for the shrinking-file shape.
private let shrinkPath = "/tmp/kvmdump-fuzz-shrink-\(getpid())"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMinidump(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    describeBudget = 8
    // One input in eight goes through a file that is cut short after it is opened (the file shrinking
    // under the mapping): nothing may die of SIGBUS, and the shrink must be reported.
    if size % 8 == 3, size > 4096 {
        exerciseShrinking(bytes, cut: UInt64(size) * UInt64(bytes[size - 1] % 8) / 8)
        return 0
    }
    let dump: Dump
    do {
        dump = try Dump(contents: bytes, name: "fuzz")
    } catch {
        _ = error.description
        return 0
    }
    exercise(dump, data, size)
    if dump.needsKernelTables { exerciseFullDump(dump, data, size) }
    return 0
}

/// An ELF full dump: physical reads, then the kernel page tables found from the symbols the
/// generated full dumps' kernels have (KERNBASE, KPML4phys at KERNBASE + 2 MiB + 0x2340), and
/// every reader again through them.
private func exerciseFullDump(_ dump: Dump, _ data: UnsafePointer<UInt8>, _ size: Int) {
    for range in dump.physicalRanges.prefix(16) {
        _ = dump.readPhysical(range.start, count: 64)
        _ = dump.readPhysical(PhysicalAddress(range.end.rawValue &- 8), count: 16)
    }
    do {
        let located = try dump.withKernelTables(kernbase: 0xffff_ffff_8000_0000, kpml4physAddress: 0xffff_ffff_8020_2340)
        exercise(located, data, size)
    } catch {
        _ = error.description
    }
}

/// Writes `bytes` to a file, opens it, cuts it to `cut` bytes, then runs every reader.
private func exerciseShrinking(_ bytes: [UInt8], cut: UInt64) {
    let fd = open(shrinkPath, O_RDWR | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return }
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    guard written == bytes.count else { return }
    let dump: Dump
    do {
        dump = try Dump(path: shrinkPath)
    } catch {
        _ = error.description
        return
    }
    guard truncate(shrinkPath, off_t(cut)) == 0 else { return }
    bytes.withUnsafeBufferPointer { exercise(dump, $0.baseAddress!, $0.count) }
    if let shrunk = dump.shrunkFileSize {
        guard shrunk == cut else { fatalError("file shrank to \(cut) bytes, reported \(shrunk)") }
        guard (try? dump.checkFileUnchanged()) == nil else { fatalError("shrunk file not reported") }
        guard dump.read(dump.header.directMapBase, count: 1).error != nil else { fatalError("read after the shrink succeeded") }
    }
}

/// Every reader of an open dump, with budgets.
private func exercise(_ dump: Dump, _ data: UnsafePointer<UInt8>, _ size: Int) {
    _ = dump.findings.map(\.description)
    _ = dump.layout.expectedFileSize
    exerciseMessageBuffer(dump)
    _ = dump.statistics()
    exerciseKernelPages(dump)
    exerciseDirectMapOnlyPages(dump)
    exerciseInputDerivedAddresses(dump, data, size)
    for range in dump.physicalRanges.prefix(64) {
        _ = dump.fileOffset(ofPhysical: range.start)
        _ = dump.physicalPage(PhysicalAddress(range.end.rawValue &- 1))
        _ = dump.physicalPage(range.end)
    }
}

/// Decodes the msgbuf both ways, and reads the ring through the kernel address the structure names.
private func exerciseMessageBuffer(_ dump: Dump) {
    let buffer = dump.messageBuffer()
    _ = buffer.dmesg(all: true)
    _ = buffer.dmesg(all: false)
    if case .structure(let structure) = buffer.source {
        probe(dump, structure.ringAddress, count: Int(min(structure.size, 1 << 16)))
    }
}

/// Translates and reads the first bytes, the last bytes and across the end of each kernel page.
private func exerciseKernelPages(_ dump: Dump) {
    var budget = pageBudget
    dump.forEachKernelPage { page in
        let va = page.virtualAddress.rawValue
        let last = va &+ page.size.bytes &- 1
        probe(dump, VirtualAddress(va), count: 16)
        probe(dump, VirtualAddress(last &- 3), count: 8)
        _ = try? dump.readUInt64(VirtualAddress(last &- 3))
        _ = try? dump.translate(VirtualAddress(last))
        budget -= 1
        return budget > 0
    }
}

/// Reads direct-map-only pages through the direct map, straddling into the next page.
private func exerciseDirectMapOnlyPages(_ dump: Dump) {
    var budget = pageBudget
    dump.forEachDirectMapOnlyPage { pa, _ in
        probe(dump, VirtualAddress(dump.header.directMapBase.rawValue &+ pa.rawValue &+ 0xff8), count: 24)
        _ = dump.physicalPage(pa)
        budget -= 1
        return budget > 0
    }
}

/// Addresses derived from the input: the last 256 bytes as words, each used as a raw VA, as an offset
/// into the kernel map and as an offset into the direct map (so mutations reach valid mappings).
private func exerciseInputDerivedAddresses(_ dump: Dump, _ data: UnsafePointer<UInt8>, _ size: Int) {
    var offset = max(0, size - 256)
    while offset + 8 <= size {
        var word: UInt64 = 0
        for i in 0..<8 { word |= UInt64(data[offset + i]) << (8 * UInt64(i)) }
        probe(dump, VirtualAddress(word), count: 4100)
        if let kernel = dump.kernelMapRange {
            let span = kernel.upperBound - kernel.lowerBound
            probe(dump, VirtualAddress(kernel.lowerBound &+ (span == .max ? word : word % (span + 1))), count: 40)
        }
        if let direct = dump.directMapRange {
            let span = direct.upperBound - direct.lowerBound
            probe(dump, VirtualAddress(direct.lowerBound &+ (span == .max ? word : word % (span + 1))), count: 40)
        }
        offset += 8
    }
}

/// Translates `va` and reads `count` bytes from it, formatting the first errors as a user would see them.
private func probe(_ dump: Dump, _ va: VirtualAddress, count: Int) {
    do {
        _ = try dump.translate(va)
    } catch {
        describe(error)
    }
    if let error = dump.read(va, count: count).error { describe(error) }
}

private func describe(_ error: TranslationError) {
    guard describeBudget > 0 else { return }
    describeBudget -= 1
    _ = error.description
}

/// libFuzzer entry point for the thread and stack walkers: the input is a list of patches applied to
/// a copy of the golden thread dump (`Fixtures/vmcore.2`, with `Fixtures/kernel.2`), so mutations
/// land in allproc, struct proc/thread, pcbs, stacks and trapframes of an otherwise valid dump.
/// Built by `make fuzz-threads-build` with MinidumpCore, KernelImage and KernelThreads as libraries.
///
/// Input: records of [u32 LE file offset][u8 length][length bytes]; the offset is taken modulo the
/// dump's size. Every thread's backtrace is walked and formatted, and the crash signature made.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KernelImage
import KernelThreads
import MappedBytes
import MinidumpCore

/// The golden dump and kernel, loaded once ($KVMDUMP_FUZZ_DUMP / $KVMDUMP_FUZZ_KERNEL override the paths).
nonisolated(unsafe) private var golden: (bytes: [UInt8], kernel: KernelImage)?

private func load() -> (bytes: [UInt8], kernel: KernelImage) {
    if let golden { return golden }
    func path(_ variable: String, _ fallback: String) -> String {
        getenv(variable).map { String(cString: $0) } ?? fallback
    }
    do {
        let file = try MappedFile(path: path("KVMDUMP_FUZZ_DUMP", "Fixtures/vmcore.2"))
        let bytes = file.bytes.bytes(at: 0, length: file.size) ?? []
        let kernel = try KernelImage(path: path("KVMDUMP_FUZZ_KERNEL", "Fixtures/kernel.2"))
        golden = (bytes, kernel)
        return golden!
    } catch {
        fatalError("fuzz-threads: cannot load the golden thread dump and kernel: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzThreads(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let (original, kernel) = load()
    var bytes = original
    var at = 0
    var patches = 0
    while at + 5 <= size && patches < 256 && !bytes.isEmpty {
        let offset = (0..<4).reduce(0) { $0 | Int(data[at + $1]) << (8 * $1) } % bytes.count
        let length = Int(data[at + 4])
        at += 5
        for i in 0..<length where at + i < size && offset + i < bytes.count { bytes[offset + i] = data[at + i] }
        at += length
        patches += 1
    }
    let dump: Dump
    do {
        dump = try Dump(contents: bytes, name: "fuzz")
    } catch {
        return 0
    }
    let list: ThreadList
    do {
        list = try kernelThreads(dump: dump, kernel: kernel, limits: WalkLimits(maxProcesses: 4096, maxThreads: 4096, maxFrames: 256))
    } catch {
        _ = error.description
        return 0
    }
    _ = list.problems.count
    for process in list.processes { _ = process.comm.utf8.count }
    for thread in list.threads.prefix(256) {
        let bt = list.backtrace(thread)
        for frame in bt.frames { _ = frame.location.utf8.count; _ = frame.trap?.line.utf8.count }
        _ = bt.detail.utf8.count
        _ = thread.displayName.utf8.count
    }
    if let crashed = list.crashed { _ = CrashSignature(panicString: "page fault 0x12345", backtrace: list.backtrace(crashed)).hash }
    return 0
}

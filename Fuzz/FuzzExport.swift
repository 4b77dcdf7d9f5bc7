/// libFuzzer entry point for `kvmdump export`: opens arbitrary bytes as a dump and exports it as an
/// ELF core (both note layouts, with and without PN_XNUM) to /dev/null, which cannot seek, so every
/// hole is written as zeros too. Built by `make fuzz-export-build` (not part of the package).
import CoreExport
import MappedBytes
import MinidumpCore

nonisolated(unsafe) private var sink: OutputFile?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzExport(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let dump = try? Dump(contents: bytes, name: "fuzz") else { return 0 }
    if sink == nil { sink = try? OutputFile(path: "/dev/null", overwrite: true) }
    guard let sink else { return 0 }
    let thread = CoreThread(tid: 100_001, pid: 1, name: String(decoding: bytes.prefix(24), as: UTF8.self), comm: "fuzz",
                            registers: ["rip": 0xffff_ffff_8000_0000, "rsp": 0xfffffe00_0000_1000])
    for (flavor, limit) in [(CoreFlavor.gdb, 0xffff), (CoreFlavor.lldb, 2)] {
        var options = CoreExportOptions(flavor: flavor)
        options.programHeaderLimit = limit
        do {
            let report = try exportCore(dump: dump, threads: [thread], to: sink, options: options)
            precondition(report.dataPages <= dump.dumpedPageCount, "more data pages than the dump has")
        } catch {
            _ = error.description
        }
    }
    return 0
}

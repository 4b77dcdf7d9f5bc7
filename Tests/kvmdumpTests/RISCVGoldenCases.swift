/// The riscv golden cases (`Fixtures/vmcore.riscv.v1`, `vmcore.riscv.v2`, `kernel.riscv`; see
/// Fixtures/README.md): every subcommand that reads memory, text and JSON, on both versions; and the
/// thread commands and export on `vmcore.riscv.threads` + `kernel.riscv.threads`.
/// K = 0xffffffc000000000; the direct map is dmapbase 0xffffffd000000000 + PA - dmapphys 0x80000000.

private func r(_ name: String, _ arguments: String, stdin: String? = nil) -> GoldenCase {
    GoldenCase(name: name, arguments: arguments.split(separator: " ").map(String.init), stdin: stdin)
}

/// Kernel and direct-map VAs of the riscv fixtures.
private enum RV {
    static let threadName = "0xffffffc0002083c8"  // "kvmdump_fixture"
    static let panicString = "0xffffffc000209040"  // "page fault"
    static let spanning = "0xffffffc00020aff0"  // 68 bytes across two non-adjacent pages
    static let invalid = "0xffffffc00020e000"  // V clear
    static let nonLeaf = "0xffffffc00020f000"  // V set, R/W/X clear
    static let reservedBits = "0xffffffc000210010"  // leaf with bit 62 set
    static let device = "0xffffffc000211000"  // leaf to PA 0x10000000, not RAM
    static let superpage = "0xffffffc000400010"  // synthetic leaf of a 2 MiB superpage, in RAM
    static let superpageEnd = "0xffffffc00040fff0"  // 16 bytes before its first page outside RAM
    static let msgbuf = "0xffffffd0007fe000"  // DMAP: the msgbuf ring (PA 0x807fe000)
    static let dmapBase = "0xffffffd000000000"  // DMAP: PA 0x80000000, below RAM
    static let pastMap = "0xffffffc001000000"  // kernel_vm_end
}

/// Every riscv golden case, in a stable order.
let riscvGoldenCases: [GoldenCase] = {
    let v1 = "Fixtures/vmcore.riscv.v1", v2 = "Fixtures/vmcore.riscv.v2"
    let k = "-N Fixtures/kernel.riscv"
    var cases: [GoldenCase] = []
    for (tag, path) in [("riscv-v1", v1), ("riscv-v2", v2)] {
        cases += [
            r("header-\(tag)", "header \(path)"), r("header-\(tag)-json", "header --json \(path)"),
            r("stats-\(tag)", "stats \(path)"), r("stats-\(tag)-json", "stats --json \(path)"),
            r("pages-\(tag)", "pages \(path)"), r("pages-\(tag)-dmap", "pages --dmap \(path)"),
            r("pages-\(tag)-dmap-json", "pages --dmap --json \(path)"),
            r("msgbuf-\(tag)", "msgbuf \(path)"), r("msgbuf-\(tag)-unread-json", "msgbuf --unread --json \(path)"),
            r("read-\(tag)-string", "-M \(path) read \(RV.spanning) --string"),
            r("translate-\(tag)", "-M \(path) translate --explain \(RV.threadName) \(RV.reservedBits) \(RV.superpage) \(RV.msgbuf)"),
            r("info-\(tag)", "\(k) info \(path)"),
        ]
    }
    cases += [
        r("pages-riscv-v2-json", "pages --json \(v2)"),
        r("translate-riscv-v2-json", "-M \(v2) translate --json --explain \(RV.threadName) \(RV.msgbuf) \(RV.nonLeaf)"),
        r("translate-riscv-v2-unmapped", "-M \(v2) translate --explain \(RV.invalid) \(RV.nonLeaf) \(RV.device) \(RV.dmapBase) \(RV.pastMap) 0x1234"),
        r("translate-riscv-v2-stdin", "-M \(v2) translate -",
          stdin: "\(RV.threadName)\n\(RV.nonLeaf)\n\(RV.msgbuf)\n\(RV.pastMap)\nhz\n"),
        r("read-riscv-v2-hexdump", "-M \(v2) read \(RV.panicString) --len 16"),
        r("read-riscv-v2-partial-superpage", "-M \(v2) read \(RV.superpageEnd) --len 32"),
        r("read-riscv-v2-dmap-u64", "-M \(v2) read 0xffffffd0007fffb8 --len 8 --u64"),
        r("read-riscv-v2-expr-deref-string", "\(k) -M \(v2) read *panicstr --string"),
        r("read-riscv-v1-expr-hostname", "\(k) -M \(v1) read hostname --string"),
        r("sym-riscv", "\(k) sym version msgbufp panicstr kernel_vm_end hz panic+0x10"),
        r("sym-riscv-json", "\(k) -M \(v2) sym hz kernel_vm_end panic+0x10 --json"),
        r("msgbuf-riscv-v2-via-msgbufp-json", "\(k) msgbuf --unread --json \(v2)"),
        r("info-riscv-v2-json", "\(k) info --json \(v2)"),
        r("info-riscv-v2-no-kernel", "info \(v2)"),
        r("error-ps-riscv", "\(k) -M \(v2) ps"),
    ]
    // The thread fixture: processes, threads, backtraces through the exception handlers, the export summary.
    let t = "-N Fixtures/kernel.riscv.threads -M Fixtures/vmcore.riscv.threads"
    cases += [
        r("ps-riscv-threads", "\(t) ps"), r("threads-riscv-threads", "\(t) threads"),
        r("bt-riscv-threads", "\(t) bt"), r("bt-riscv-threads-all", "\(t) bt --all"),
        r("bt-riscv-threads-verbose-json", "\(t) bt 100199 --verbose --json"),
        r("info-riscv-threads", "-N Fixtures/kernel.riscv.threads info Fixtures/vmcore.riscv.threads"),
        r("export-riscv-threads-json", "\(t) export -o $TMP/core --json"),
    ]
    return cases
}()

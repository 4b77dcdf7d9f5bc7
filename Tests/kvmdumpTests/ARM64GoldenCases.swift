/// The arm64 golden cases: every dump subcommand in text and JSON on the 16 KiB v3 and the 4 KiB v2
/// fixture, with and without `Fixtures/kernel.arm64` (sym, info, msgbuf through msgbufp), including
/// a PAC-signed pointer, a reserved L3 entry and direct-map addresses (see Fixtures/README.md); and the
/// thread commands and export on `vmcore.arm64.threads` + `kernel.arm64.threads`.

private func a(_ name: String, _ arguments: String, stdin: String? = nil) -> GoldenCase {
    GoldenCase(name: name, arguments: arguments.split(separator: " ").map(String.init), stdin: stdin)
}

/// Virtual addresses in the arm64 fixtures (kernbase 0xffff000000000000, dmapbase 0xffffa00000000000
/// maps PA 0x40000000).
private enum ARM64VA {
    static let text = "0xffff000000010000"
    static let panicString = "0xffff000000020400"
    /// The same address with a pointer-authentication signature in bits 54-48.
    static let signedPanicString = "0xff80000000020400"
    static let noisyPage = "0xffff000000040010"  // an L3 entry with software, contiguous, DBM and GP bits set
    static let device = "0xffff000000080000"  // valid entry, PA 0x9000000 outside RAM
    static let reserved = "0xffff0000000c0000"  // descriptor bits 0b01: invalid at L3
    static let block = "0xffff000000200000"  // 4 KiB: the first page of the 2 MiB block over the third range
    static let msgbufDMAP = "0xffffa000013f8000"  // the msgbuf ring through the direct map
    static let belowKernbase = "0x0000000000001000"  // bit 55 clear: a user address, in neither map
}

/// Every arm64 golden case.
let arm64GoldenCases: [GoldenCase] = {
    var cases: [GoldenCase] = []
    for (tag, path) in [("arm64-16k", "Fixtures/vmcore.arm64.v3-16k"), ("arm64-4k", "Fixtures/vmcore.arm64.v2-4k")] {
        let m = "-M \(path)"
        cases += [
            a("header-\(tag)", "header \(path)"), a("header-\(tag)-json", "header --json \(path)"),
            a("stats-\(tag)", "stats \(path)"), a("stats-\(tag)-json", "stats --json \(path)"),
            a("pages-\(tag)", "pages \(path)"), a("pages-\(tag)-json", "pages --json \(path)"),
            a("pages-\(tag)-dmap", "pages --dmap \(path)"),
            a("msgbuf-\(tag)", "msgbuf \(path)"), a("msgbuf-\(tag)-json", "msgbuf --json \(path)"),
            a("translate-\(tag)-explain",
              "\(m) translate --explain \(ARM64VA.text) \(ARM64VA.signedPanicString) \(ARM64VA.noisyPage) \(ARM64VA.msgbufDMAP)"),
            a("translate-\(tag)-explain-json",
              "\(m) translate --explain --json \(ARM64VA.panicString) \(ARM64VA.signedPanicString) \(ARM64VA.msgbufDMAP)"),
            a("translate-\(tag)-errors",
              "\(m) translate \(ARM64VA.reserved) \(ARM64VA.device) \(ARM64VA.belowKernbase) \(ARM64VA.block)"),
            a("translate-\(tag)-stdin", "\(m) translate -", stdin: "\(ARM64VA.text)\n\(ARM64VA.signedPanicString)\n\(ARM64VA.reserved)\n"),
            a("read-\(tag)-hexdump", "\(m) read \(ARM64VA.text) --len 32"),
            a("read-\(tag)-signed-string", "\(m) read \(ARM64VA.signedPanicString) --string"),
            a("read-\(tag)-dmap-json", "\(m) read \(ARM64VA.msgbufDMAP) --len 16 --json"),
            a("sym-\(tag)", "-N Fixtures/kernel.arm64 \(m) sym version panic msgbufp kernel_vm_end --json"),
            a("info-\(tag)", "-N Fixtures/kernel.arm64 info \(path)"),
            a("info-\(tag)-json", "-N Fixtures/kernel.arm64 info --json \(path)"),
            a("msgbuf-\(tag)-msgbufp", "-N Fixtures/kernel.arm64 msgbuf --unread \(path)"),
            a("read-\(tag)-symbol", "-N Fixtures/kernel.arm64 \(m) read *panicstr --string"),
        ]
    }
    cases.append(a("sym-arm64-kernel", "-N Fixtures/kernel.arm64 sym version osreldate panic+0x10 end"))
    cases.append(a("error-ps-arm64", "-N Fixtures/kernel.arm64 -M Fixtures/vmcore.arm64.v3-16k ps"))
    // The thread fixture: processes, threads, backtraces through exception vectors, the export summary.
    let t = "-N Fixtures/kernel.arm64.threads -M Fixtures/vmcore.arm64.threads"
    cases += [
        a("ps-arm64-threads", "\(t) ps"), a("threads-arm64-threads", "\(t) threads"),
        a("bt-arm64-threads", "\(t) bt"), a("bt-arm64-threads-all", "\(t) bt --all"),
        a("bt-arm64-threads-verbose-json", "\(t) bt 100199 --verbose --json"),
        a("info-arm64-threads", "-N Fixtures/kernel.arm64.threads info Fixtures/vmcore.arm64.threads"),
        a("export-arm64-threads-json", "\(t) export -o $TMP/core --json"),
    ]
    return cases
}()

/// The golden cases: every subcommand in every output mode, on every fixture where it matters, plus
/// dump errors, partial reads and usage errors. Each case's full stdout, stderr and exit status are
/// recorded in `Fixtures/expected/<name>.{stdout,stderr,status}`.

/// Files a case needs that cannot be committed as fixtures; made in a fresh temporary directory whose
/// path is written `$TMP` in arguments and in the recorded output.
enum ScratchFile: Sendable {
    /// `vmcore.0` with its magic overwritten: `$TMP/vmcore.badmagic`.
    case badMagic
    /// The first 8 KiB of `vmcore.0`, ending inside the msgbuf section: `$TMP/vmcore.short`.
    case short
    /// An empty file: `$TMP/vmcore.empty`.
    case empty
}

/// One run of the tool and the name of its golden files.
struct GoldenCase: Sendable, CustomStringConvertible {
    let name: String
    let arguments: [String]
    var environment: [String: String] = [:]
    /// Standard input; empty if nil.
    var stdin: String?
    var scratch: [ScratchFile] = []
    /// Only meaningful where `/var/crash/vmcore.last` does not exist: where it does, the case fails
    /// saying it cannot run (`header-env-core-missing` covers the same path through the environment).
    var needsNoDefaultCore = false

    var description: String { name }

    /// Whether standard output is JSON: one document, or one per line for `translate -`.
    var printsJSON: Bool { arguments.contains("--json") }
    var streams: Bool { arguments.contains("-") }
}

private func c(_ name: String, _ arguments: String, stdin: String? = nil, environment: [String: String] = [:],
               scratch: [ScratchFile] = []) -> GoldenCase {
    GoldenCase(
        name: name, arguments: arguments.split(separator: " ").map(String.init), environment: environment,
        stdin: stdin, scratch: scratch)
}

/// Kernel VAs in the v2/v3 fixtures (kernbase 0xfffffe0000000000); see Fixtures/README.md.
private enum VA {
    static let threadName = "0xfffffe00002083c8"  // "kvmdump_fixture"
    static let panicString = "0xfffffe0000209040"  // "page fault"
    static let spanning = "0xfffffe000020aff0"  // 68-byte string across two non-adjacent pages
    static let beforeHole = "0xfffffe000020dff0"  // 16 bytes before the invalid PTE at +0x20e000
    static let absentPage = "0xfffffe000020f000"  // valid PTE, page not dumped (LAPIC)
    static let large2MEnd = "0xfffffe000040fff0"  // 16 bytes before the 2M page's first undumped 4K
    static let large1GEnd = "0xfffffe0040007ff0"  // 16 bytes before the 1G page's first undumped 4K
    static let pciHole = "0xfffffe0000600000"  // 2M page at PA 0xc0000000, not dumped
    static let msgbufZeros = "0xfffff800007fef00"  // DMAP, inside the msgbuf ring's NUL tail
    static let msgbufDMAP = "0xfffff800007fe000"  // DMAP, msgbuf page (missing from vmcore.truncated)
    static let dmapNotDumped = "0xfffff80000050000"  // RAM but not dumped
    static let truncatedPage = "0xfffffe0000202000"  // data page 30, only 2000 bytes in vmcore.truncated
}

/// Every golden case, in a stable order.
let goldenCases: [GoldenCase] = {
    let v3 = "Fixtures/vmcore.0"
    var cases: [GoldenCase] = []

    // Help and version.
    cases += [
        c("help", "--help"), c("help-short", "-h"), c("help-command", "help"), c("version", "--version"),
        c("version-before-subcommand", "--version header"),
    ]
    for command in ["header", "msgbuf", "read", "translate", "pages", "stats"] {
        cases.append(c("help-\(command)", "\(command) --help"))
    }
    cases.append(c("help-via-help-read", "help read"))
    cases += [c("help-help", "help --help"), c("help-help-short", "help -h"), c("help-via-help-help", "help help")]
    for command in ["sym", "info"] { cases.append(c("help-\(command)", "\(command) --help")) }

    // Choosing the dump.
    cases += [
        c("header-v3", "header \(v3)"),
        c("header-v3-dash-M", "-M \(v3) header"),
        c("header-v3-core-after-subcommand", "header --core=\(v3)"),
        c("header-v3-clustered-short-options", "header -hM\(v3)"),
        c("header-env-core", "header", environment: ["KVMDUMP_CORE": "Fixtures/vmcore.v2"]),
        c("header-dash-M-beats-env", "header -M \(v3)", environment: ["KVMDUMP_CORE": "Fixtures/vmcore.v2"]),
        c("header-same-dump-twice", "-M \(v3) header \(v3)"),
    ]
    var defaultCore = c("header-default-core-missing", "header")
    defaultCore.needsNoDefaultCore = true
    cases.append(defaultCore)
    // The same without depending on the host: $KVMDUMP_CORE names a file that is not there.
    cases.append(c("header-env-core-missing", "header", environment: ["KVMDUMP_CORE": "$TMP/vmcore.last"]))

    // header, stats, pages: text and JSON on every fixture.
    let fixtures = ["0", "v1", "v2", "wrapped", "nostruct", "badmsgbuf", "msgbuf40", "truncated"]
    for fixture in fixtures {
        let path = "Fixtures/vmcore.\(fixture)"
        let tag = fixture == "0" ? "v3" : fixture
        cases += [
            c("header-\(tag)-json", "header --json \(path)"),
            c("stats-\(tag)", "stats \(path)"), c("stats-\(tag)-json", "stats --json \(path)"),
        ]
        if fixture != "0" { cases.append(c("header-\(tag)", "header \(path)")) }
    }
    for (tag, path) in [("v3", v3), ("v1", "Fixtures/vmcore.v1"), ("v2", "Fixtures/vmcore.v2"),
                        ("truncated", "Fixtures/vmcore.truncated")] {
        cases += [
            c("pages-\(tag)", "pages \(path)"), c("pages-\(tag)-json", "pages --json \(path)"),
            c("pages-\(tag)-dmap", "pages --dmap \(path)"), c("pages-\(tag)-dmap-json", "pages --dmap --json \(path)"),
        ]
    }

    // msgbuf: every part, text and JSON, on every fixture.
    for fixture in fixtures {
        let path = "Fixtures/vmcore.\(fixture)"
        let tag = fixture == "0" ? "v3" : fixture
        cases += [
            c("msgbuf-\(tag)", "msgbuf \(path)"), c("msgbuf-\(tag)-unread", "msgbuf --unread \(path)"),
            c("msgbuf-\(tag)-raw", "msgbuf --raw \(path)"), c("msgbuf-\(tag)-json", "msgbuf --json \(path)"),
            c("msgbuf-\(tag)-unread-json", "msgbuf --unread --json \(path)"),
            c("msgbuf-\(tag)-raw-json", "msgbuf --raw --json \(path)"),
            c("msgbuf-\(tag)-dmesg", "msgbuf --dmesg \(path)"),
        ]
    }
    cases += [
        c("msgbuf-wrapped-dmesg-all", "msgbuf --dmesg --all Fixtures/vmcore.wrapped"),
        c("msgbuf-wrapped-dmesg-json", "msgbuf --dmesg --json Fixtures/vmcore.wrapped"),
        c("msgbuf-v3-all", "msgbuf --all Fixtures/vmcore.0"),
        c("usage-msgbuf-dmesg-raw", "msgbuf --dmesg --raw Fixtures/vmcore.0"),
    ]

    // read: every format, whole and partial reads, on the sample dump.
    let m = "-M \(v3)"
    cases += [
        c("read-hexdump", "\(m) read \(VA.threadName) --len 48"),
        c("read-hexdump-unaligned-short", "\(m) read \(VA.threadName) --len 5"),
        c("read-hexdump-squeezed", "\(m) read \(VA.msgbufZeros) --len 0x100"),
        c("read-hexdump-across-pages", "\(m) read \(VA.spanning) --len=0x20"),
        c("read-hexdump-len-suffix", "\(m) read \(VA.msgbufZeros) --len 1k"),
        c("read-decimal-address", "\(m) read 18446741874688426952 --len 16"),
        c("read-raw", "\(m) read \(VA.threadName) --len 16 --raw"),
        c("read-string", "\(m) read \(VA.threadName) --string"),
        c("read-string-panic", "\(m) read \(VA.panicString) --string"),
        c("read-string-spanning", "\(m) read \(VA.spanning) --string"),
        c("read-string-unterminated", "\(m) read \(VA.threadName) --string --len 7"),
        c("read-u8", "\(m) read \(VA.threadName) --len 24 --u8"),
        c("read-u16", "\(m) read \(VA.threadName) --len 24 --u16"),
        c("read-u32", "\(m) read \(VA.threadName) --len 24 --u32"),
        c("read-u64", "\(m) read \(VA.threadName) --len 24 --u64"),
        c("read-json", "\(m) read \(VA.threadName) --len 16 --json"),
        c("read-json-string", "\(m) read \(VA.threadName) --string --json"),
        c("read-json-string-unterminated", "\(m) read \(VA.threadName) --string --len 7 --json"),
        c("read-json-u8", "\(m) read \(VA.threadName) --len 8 --u8 --json"),
        c("read-json-u16", "\(m) read \(VA.threadName) --len 8 --u16 --json"),
        c("read-json-u32", "\(m) read \(VA.threadName) --len 8 --u32 --json"),
        c("read-json-u64", "\(m) read \(VA.threadName) --len 16 --u64 --json"),
        c("read-dmap", "\(m) read 0xfffff800007b93c8 --string"),
        c("read-2m-page", "\(m) read 0xfffffe0000400000 --len 16"),
        c("read-1g-page", "\(m) read 0xfffffe0040000000 --len 16 --u64"),
        // Partial reads: what could be read, then the error; exit 1.
        c("read-partial-hexdump", "\(m) read \(VA.beforeHole) --len 32"),
        c("read-partial-raw", "\(m) read \(VA.beforeHole) --len 32 --raw"),
        c("read-partial-u32", "\(m) read \(VA.beforeHole) --len 32 --u32"),
        c("read-partial-string", "\(m) read \(VA.beforeHole) --len 32 --string"),
        c("read-partial-json", "\(m) read \(VA.beforeHole) --len 32 --json"),
        c("read-partial-json-u64", "\(m) read \(VA.beforeHole) --len 32 --u64 --json"),
        c("read-partial-2m-page", "\(m) read \(VA.large2MEnd) --len 32"),
        c("read-partial-1g-page", "\(m) read \(VA.large1GEnd) --len 32"),
        // Nothing readable.
        c("read-unmapped", "\(m) read 0x1234 --len 16"),
        c("read-unmapped-json", "\(m) read 0x1234 --len 16 --json"),
        c("read-absent-page", "\(m) read \(VA.absentPage) --len 16"),
        c("read-pci-hole", "\(m) read \(VA.pciHole) --len 16"),
        c("read-dmap-not-dumped", "\(m) read \(VA.dmapNotDumped) --len 16"),
        c("read-string-unmapped", "\(m) read 0x1234 --string"),
    ]
    // read on the other versions and the truncated dump.
    cases += [
        c("read-v1-string", "-M Fixtures/vmcore.v1 read 0xffffffff802083c8 --string"),
        c("read-v1-hexdump", "-M Fixtures/vmcore.v1 read 0xffffffff80209040 --len 16"),
        c("read-v1-2m-page", "-M Fixtures/vmcore.v1 read 0xffffffff8040fff0 --len 32"),
        c("read-v2-string", "-M Fixtures/vmcore.v2 read \(VA.spanning) --string"),
        c("read-truncated-present", "-M Fixtures/vmcore.truncated read 0xfffffe0000800000 --len 16"),
        c("read-truncated-past-eof", "-M Fixtures/vmcore.truncated read \(VA.msgbufDMAP) --len 16"),
        // vmcore.truncated ends 0x7d0 bytes into the page at VA.truncatedPage: those bytes still read.
        c("read-truncated-cut-page", "-M Fixtures/vmcore.truncated read \(VA.truncatedPage) --len 16"),
        c("read-truncated-partial-page", "-M Fixtures/vmcore.truncated read 0xfffffe00002027c8 --len 16"),
        c("read-truncated-into-missing", "-M Fixtures/vmcore.truncated read 0xfffffe00002027c0 --len 32"),
    ]

    // translate: arguments and streams, text and JSON, with and without --explain.
    let good = [VA.threadName, "0xfffff800007fe010", "0xfffffe0000400123", "0xfffffe0040001000"].joined(separator: " ")
    let bad = ["0x1234", VA.absentPage, VA.pciHole, VA.dmapNotDumped, "0xfffffe000020e000"].joined(separator: " ")
    cases += [
        c("translate", "\(m) translate \(good)"),
        c("translate-explain", "\(m) translate --explain \(good)"),
        c("translate-json", "\(m) translate --json \(good)"),
        c("translate-json-explain", "\(m) translate --json --explain \(good)"),
        c("translate-errors", "\(m) translate \(VA.threadName) \(bad)"),
        c("translate-errors-explain", "\(m) translate --explain \(VA.threadName) 0x1234"),
        c("translate-errors-json", "\(m) translate --json \(VA.threadName) \(bad)"),
        c("translate-v1", "-M Fixtures/vmcore.v1 translate --explain 0xffffffff802083c8 0xffffffff80400010 0xfffff80100006000"),
        c("translate-v1-json", "-M Fixtures/vmcore.v1 translate --json --explain 0xffffffff802083c8 0xfffff80100006000"),
        c("translate-v2", "-M Fixtures/vmcore.v2 translate --explain \(good)"),
        c("translate-truncated", "-M Fixtures/vmcore.truncated translate 0xfffffe0000800000 \(VA.truncatedPage) 0xfffffe00002027d0 \(VA.msgbufDMAP)"),
    ]
    let streamInput = [
        VA.threadName, "0XFFFFFE0040001000", "  0xfffff800007fe010\t", "0x1234", "zzz", "", VA.absentPage,
        "18446741874688426952\r", "0x", "0x10000000000000000", VA.spanning,
    ].joined(separator: "\n") + "\n"
    cases += [
        c("translate-stdin", "\(m) translate -", stdin: streamInput),
        c("translate-stdin-explain", "\(m) translate --explain -", stdin: streamInput),
        c("translate-stdin-json", "\(m) translate --json -", stdin: streamInput),
        c("translate-stdin-json-explain", "\(m) translate --json --explain -", stdin: streamInput),
        c("translate-stdin-no-final-newline", "\(m) translate -", stdin: VA.threadName + "\n" + VA.panicString),
        c("translate-stdin-empty", "\(m) translate -", stdin: ""),
        c("translate-stdin-long-line", "\(m) translate -",
          stdin: String(repeating: "0", count: 70_000) + "1\n" + VA.threadName + "\n"),
    ]

    // Dump errors: exit 1, one line on stderr naming the file.
    cases += [
        c("error-missing-file", "header Fixtures/vmcore.missing"),
        c("error-missing-file-read", "-M Fixtures/vmcore.missing read \(VA.threadName) --len 16"),
        c("error-missing-file-translate-stdin", "-M Fixtures/vmcore.missing translate -", stdin: VA.threadName + "\n"),
        c("error-not-a-dump", "msgbuf Fixtures/README.md"),
        c("error-directory", "stats Fixtures"),
        c("error-bad-magic", "header $TMP/vmcore.badmagic", scratch: [.badMagic]),
        c("error-bad-magic-json", "pages --json $TMP/vmcore.badmagic", scratch: [.badMagic]),
        c("error-short-file", "stats $TMP/vmcore.short", scratch: [.short]),
        c("error-empty-file", "msgbuf $TMP/vmcore.empty", scratch: [.empty]),
    ]

    // Usage errors: exit 2, the message and a pointer to the help.
    cases += [
        c("usage-no-subcommand", ""),
        c("usage-unknown-subcommand", "frobnicate"),
        c("usage-help-unknown-subcommand", "help frobnicate"),
        c("usage-help-two-subcommands", "help read pages"),
        c("usage-unknown-global-option", "--bogus header \(v3)"),
        c("usage-unknown-option", "header --bogus \(v3)"),
        c("usage-unknown-short-option", "header -x \(v3)"),
        c("usage-subcommand-option-before-subcommand", "--len 4 read \(VA.threadName)"),
        c("usage-missing-core-value", "header -M"),
        c("usage-missing-core-value-global", "-M"),
        c("usage-missing-len-value", "\(m) read \(VA.threadName) --len"),
        c("usage-flag-with-value", "\(m) header --json=yes"),
        c("usage-two-dumps", "header -M \(v3) Fixtures/vmcore.v1"),
        c("usage-extra-positional", "stats \(v3) Fixtures/vmcore.v1"),
        c("usage-read-missing-address", "\(m) read --len 4"),
        c("usage-read-missing-len", "\(m) read \(VA.threadName)"),
        c("usage-read-malformed-address", "\(m) read 0xfffffe00002083zz --len 4"),
        c("usage-read-empty-hex-address", "\(m) read 0x --len 4"),
        c("usage-read-address-too-big", "\(m) read 0x1ffffffffffffffff --len 4"),
        c("usage-read-negative-address", "\(m) read -0x10 --len 4"),
        c("usage-read-two-addresses", "\(m) read \(VA.threadName) 0x10 --len 4"),
        c("usage-read-len-zero", "\(m) read \(VA.threadName) --len 0"),
        c("usage-read-len-malformed", "\(m) read \(VA.threadName) --len 12q"),
        c("usage-read-len-negative", "\(m) read \(VA.threadName) --len=-1"),
        c("usage-read-len-overflow", "\(m) read \(VA.threadName) --len 99999999999999999999"),
        c("usage-read-len-over-limit", "\(m) read \(VA.threadName) --len 65m"),
        c("usage-read-len-over-raw-limit", "\(m) read \(VA.threadName) --len 2g --raw"),
        c("usage-read-len-suffix-overflow", "\(m) read \(VA.threadName) --len 0xffffffffffffffffg"),
        c("usage-read-len-not-word-multiple", "\(m) read \(VA.threadName) --len 6 --u32"),
        c("usage-read-past-top", "\(m) read 0xfffffffffffffff0 --len 32"),
        c("usage-read-raw-and-string", "\(m) read \(VA.threadName) --len 4 --raw --string"),
        c("usage-read-u8-and-u64", "\(m) read \(VA.threadName) --len 8 --u8 --u64"),
        c("usage-read-raw-json", "\(m) read \(VA.threadName) --len 4 --raw --json"),
        c("usage-msgbuf-unread-and-raw", "msgbuf --unread --raw \(v3)"),
        c("usage-translate-missing-address", "\(m) translate"),
        c("usage-translate-malformed-address", "\(m) translate \(VA.threadName) 0xg"),
        c("usage-translate-stdin-and-address", "\(m) translate - \(VA.threadName)"),
        c("usage-pages-unknown-option", "pages --kernel-only \(v3)"),
    ]
    cases += riscvGoldenCases
    // i386: PAE v2 and non-PAE v1, every subcommand that needs no kernel (sym and info in SymbolGoldenCases).
    for (tag, path) in [("i386-pae", "Fixtures/vmcore.i386.pae"), ("i386-nopae", "Fixtures/vmcore.i386.nopae")] {
        let some = "0xc00010 0xc20000 0xc06000 0xc07000 0xc08000 0x1000 0xfffff80000001000"
        cases += [
            c("header-\(tag)", "header \(path)"), c("header-\(tag)-json", "header --json \(path)"),
            c("stats-\(tag)", "stats \(path)"), c("stats-\(tag)-json", "stats --json \(path)"),
            c("pages-\(tag)", "pages \(path)"), c("pages-\(tag)-json", "pages --json \(path)"),
            c("translate-\(tag)-explain", "-M \(path) translate --explain \(some)"),
            c("translate-\(tag)-json-explain", "-M \(path) translate --json --explain \(some)"),
            c("read-\(tag)", "-M \(path) read 0xc00000 --len 0x50"),
            c("read-\(tag)-json-u32", "-M \(path) read 0xc01100 --len 8 --u32 --json"),
            c("read-\(tag)-no-direct-map", "-M \(path) read 0xfffff80000001000 --len 16"),
            c("msgbuf-\(tag)", "msgbuf \(path)"), c("msgbuf-\(tag)-json", "msgbuf --json \(path)"),
        ]
    }
    cases.append(c("export-i386-pae-json", "-M Fixtures/vmcore.i386.pae export -o $TMP/core --json"))
    // The i386 thread fixture: processes, threads, backtraces through the trampoline's stubs.
    let i386t = "-N Fixtures/kernel.i386.threads -M Fixtures/vmcore.i386.threads"
    cases += [
        c("ps-i386-threads", "\(i386t) ps"), c("threads-i386-threads", "\(i386t) threads"),
        c("bt-i386-threads", "\(i386t) bt"), c("bt-i386-threads-all", "\(i386t) bt --all"),
        c("bt-i386-threads-verbose-json", "\(i386t) bt 100199 --verbose --json"),
        c("info-i386-threads", "-N Fixtures/kernel.i386.threads info Fixtures/vmcore.i386.threads"),
        c("export-i386-threads-json", "\(i386t) export -o $TMP/core --json"),
    ]

    // ELF full dumps (Fixtures/vmcore.full*, see Fixtures/README.md): without the kernel image only
    // physical memory; with -N every subcommand, and the rule that found the page tables.
    let full = "-M Fixtures/vmcore.full", fk = "-N Fixtures/kernel.full"
    let full16 = "-M Fixtures/vmcore.full16m", delta = "-M Fixtures/vmcore.fulldelta"
    cases += [
        c("full-header", "header Fixtures/vmcore.full"), c("full-header-json", "header --json Fixtures/vmcore.full"),
        c("full-header-delta", "header Fixtures/vmcore.fulldelta"),
        c("full-stats", "\(full) stats"), c("full-stats-json", "\(full) stats --json"),
        c("full-stats-kernel", "\(full) \(fk) stats"), c("full-stats-16m-kernel", "\(full16) \(fk) stats"),
        c("full-stats-delta-kernel-json", "\(delta) \(fk) stats --json"),
        c("full-read-physical", "\(full) read --physical 0x7fe000 --len 64"),
        c("full-read-physical-json", "\(full) read --physical 0x7fe000 --len 16 --json"),
        c("read-physical-v3", "-M \(v3) read --physical 0x7fe000 --len 32"),
        c("read-physical-v3-not-dumped", "-M \(v3) read --physical 0x50000 --len 16"),
        c("full-read-physical-partial-hole", "\(full) read --physical 0x28ff8 --len 16"),
        c("error-full-translate-needs-kernel", "\(full) translate 0xffffffff80202340"),
        c("error-full-read-needs-kernel", "\(full) read 0xfffff800007fe000 --len 16"),
        c("full-translate-kernel-explain", "\(full) \(fk) translate --explain hostname 0xffffffff80202340 0xfffff800007fe000"),
        c("full-translate-kernel-explain-json", "\(full) \(fk) translate --explain --json hostname 0xfffff800007fe000"),
        c("full-translate-16m-kernel-explain", "\(full16) \(fk) translate --explain hostname 0xffffffff80202340"),
        c("full-read-kernel-string", "\(full16) \(fk) read hostname --string"),
        c("full-read-kernel-dmap", "\(delta) \(fk) read 0xfffff800007fe000 --len 32"),
        c("error-full-pages-needs-kernel", "\(full) pages"),
        c("full-pages-kernel", "\(full) \(fk) pages"), c("full-pages-kernel-json", "\(full) \(fk) pages --json"),
        c("error-full-msgbuf-needs-kernel", "\(full) msgbuf"),
        c("full-msgbuf-kernel", "\(full) \(fk) msgbuf --unread"), c("full-msgbuf-kernel-json", "\(full16) \(fk) msgbuf --unread --json"),
        c("full-info-no-kernel", "\(full) info --lines 2"),
        c("full-info-kernel", "\(full16) \(fk) info --lines 2"), c("full-info-kernel-json", "\(delta) \(fk) info --json --lines 2"),
        c("full-sym", "\(full) \(fk) sym hostname KPML4phys kernbase"),
        c("full-ps", "-M Fixtures/vmcore.full2 -N Fixtures/kernel.full2 ps"),
        c("full-bt", "-M Fixtures/vmcore.full2 -N Fixtures/kernel.full2 bt"),
        c("error-full-kernel-without-kpml4phys", "\(full) -N Fixtures/kernel.1 stats"),
        c("error-full-export-needs-kernel", "\(full) export -o -"),
        c("usage-read-physical-symbol", "\(full) \(fk) read --physical hostname --len 4"),
        c("usage-read-physical-stdin", "\(full) read --physical -"),
    ]
    cases += arm64GoldenCases
    return cases
}()

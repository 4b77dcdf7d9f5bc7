import CrashInfo
import KernelImage
import MinidumpCore
import Testing
import VMCoreBuilder

/// `Fixtures/` at the package root.
private let fixtures: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/") + "/Fixtures"
}()

private let fixtureInfo = SavecoreInfo(text: KernelFixture.infoFile(dumpLength: 286_720))

@Suite struct KernelVariables {
    let memory = KernelMemory(kernel: Fixture.kernel, dump: Fixture.dump)

    @Test func readsEveryFixtureVariableByName() throws {
        #expect(try memory.u32("osreldate") == KernelFixture.osreldate)
        #expect(try memory.u32("hz") == KernelFixture.hz)
        #expect(try memory.u64("time_second") == KernelFixture.timeSecond)
        #expect(try memory.u64("time_uptime") == KernelFixture.timeUptime)
        #expect(try memory.u32("panic_cpu") == KernelFixture.panicCPU)
        #expect(try memory.u32("dumptid") == KernelFixture.dumpThreadID)
        #expect(try memory.u64("msgbufp") == KernelFixture.msgbufPointer)
        #expect(try memory.charArray("hostname") == Array(KernelFixture.hostname.utf8))
        #expect(try memory.charArray("version") == Array(KernelFixture.version.utf8))
        #expect(try memory.stringPointer("panicstr") == Array(KernelFixture.panicString.utf8))
    }

    @Test func errorsNameTheVariable() {
        #expect(throws: VariableError.noSymbol(name: "allproc", kernel: "kernel.1")) { try memory.u64("allproc") }
        let other = KernelMemory(kernel: Fixture.kernel, dump: Fixture.standardDump)
        #expect(throws: VariableError.self) { try other.u32("hz") }
        do {
            _ = try other.u32("hz")
        } catch {
            #expect(error.description.hasPrefix("hz at 0xfffffe0010002120: "))
        }
        // The string at `version` has no NUL within 8 bytes.
        #expect(throws: VariableError.unterminated(what: "v", address: KernelFixture.dataBase, maxLength: 8)) {
            try memory.cString(at: KernelFixture.dataBase, maxLength: 8, what: "v")
        }
    }
}

@Suite struct MessageBufferThroughMsgbufp {
    @Test func equalsTheSectionsBuffer() {
        let located = locateMessageBuffer(dump: Fixture.dump, kernel: Fixture.kernel)
        #expect(located.origin == .msgbufp(pointer: KernelFixture.msgbufPointer))
        let section = Fixture.dump.messageBuffer()
        #expect(located.buffer == section)
        #expect(!located.buffer.unread.isEmpty)
        guard case .structure(let structure) = located.buffer.source else {
            Issue.record("no structure")
            return
        }
        #expect(structure.ringAddress.rawValue == 0xffff_f800_007f_e000)
    }

    @Test func withoutKernelUsesTheSectionSilently() {
        let located = locateMessageBuffer(dump: Fixture.dump, kernel: nil)
        #expect(located.origin == .section(note: nil))
        #expect(located.buffer == Fixture.dump.messageBuffer())
    }

    @Test func unreadablePointerFallsBackWithAReason() {
        let located = locateMessageBuffer(dump: Fixture.standardDump, kernel: Fixture.kernel)
        guard case .section(let note?) = located.origin else {
            Issue.record("expected a fallback note, got \(located.origin)")
            return
        }
        #expect(note.hasPrefix("msgbufp not used: msgbufp at 0xfffffe0010002108: "))
        #expect(located.buffer == Fixture.standardDump.messageBuffer())
    }

    @Test func badMagicBehindThePointerFallsBack() throws {
        var d = KernelFixture.dumpDescription()
        d.messageBuffer.structState = .badMagic
        let dump = try Dump(contents: try generateDump(d).bytes, name: "bad")
        let located = locateMessageBuffer(dump: dump, kernel: Fixture.kernel)
        #expect(located.origin == .section(note:
            "msgbufp not used: struct msgbuf (*msgbufp) at 0xfffff800007fffb8: msg_magic is 0xbadf00d, expected 0x63062"))
    }
}

@Suite struct Summary {
    @Test func withTheMatchingKernelEveryFieldComesFromTheKernel() {
        let s = CrashSummary(dump: Fixture.dump, kernel: Fixture.kernel, info: fixtureInfo, infoPath: "info.1", infoNote: nil)
        #expect(s.panicString == .found("page fault", .kernel, "panicstr"))
        #expect(s.version.value == "FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC amd64")
        #expect(s.version.source == .kernel)
        #expect(s.kernelMatches == true)
        #expect(s.hostname.value == KernelFixture.hostname)
        #expect(s.hostname.source == .kernel)
        #expect(s.osreldate.value == 1_401_000)
        #expect(s.hz.value == 1000)
        #expect(s.bootTime.value == TimeValue(seconds: 1_699_996_277, microseconds: 250_000))
        #expect(s.dumpTime.value == 1_700_000_000)
        #expect(s.uptime == .found(3723, .kernel))
        #expect(s.panicCPU == .found(1, .kernel))
        #expect(s.dumpThreadID.value == 100_123)
        #expect(s.process.value?.hasSuffix(" (kvmdump_fixture)") == true)
        #expect(s.threadName.value == nil && s.threadName.note == CrashSummary.threadNameReason)
        #expect(s.messageBuffer.origin == .msgbufp(pointer: KernelFixture.msgbufPointer))
        #expect(s.messageTail.count == 20)
        #expect(s.messageTail.last == "Dumping 1 out of 7 MB:")
        #expect(s.warnings.isEmpty)
    }

    @Test func withoutKernelTheDumpAloneStillAnswers() {
        let s = CrashSummary(dump: Fixture.dump, kernel: nil, info: fixtureInfo, infoPath: "info.1", infoNote: nil, tailLines: 3)
        #expect(s.panicString == .found("page fault", .messageBuffer, "last 'panic:' line"))
        #expect(s.version == .found("FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC amd64", .messageBuffer, "boot banner line"))
        #expect(s.hostname == .found(KernelFixture.hostname, .infoFile, "Hostname"))
        #expect(s.uptime == .found(3723, .messageBuffer, "'Uptime:' line"))
        #expect(s.panicCPU.value == 1 && s.panicCPU.source == .messageBuffer)
        #expect(s.osreldate == .missing("needs the kernel image (-N)"))
        #expect(s.kernelMatches == nil)
        #expect(s.messageTail == ["#9 0xffffffff80a73c6d at fast_syscall_common+0xf8", "Uptime: 1h2m3s", "Dumping 1 out of 7 MB:"]
            || s.messageTail.count == 3)
        #expect(s.warnings.isEmpty)
    }

    @Test func withoutKernelOrInfoTheHostnameIsMissingWithBothReasons() {
        let s = CrashSummary(dump: Fixture.standardDump, kernel: nil, info: nil, infoPath: nil, infoNote: "no info.0 beside the dump")
        #expect(s.hostname == .missing("needs the kernel image (-N); no info.0 beside the dump"))
        #expect(s.panicString.value == "page fault")
    }

    @Test func mismatchedKernelIsReportedLoudly() {
        let s = CrashSummary(dump: Fixture.dump, kernel: Fixture.mismatched, info: nil, infoPath: nil, infoNote: nil)
        #expect(s.kernelMatches == false)
        #expect(s.kernelImageVersion.value == "FreeBSD 14.2-RELEASE releng/14.2-n269506-c8918d6c7412 GENERIC amd64")
        #expect(s.warnings.first?.hasPrefix(CrashSummary.mismatchWarning) == true)
        // The running kernel's values are still what the dump holds.
        #expect(s.version.value?.hasPrefix("FreeBSD 14.1-RELEASE") == true)
    }

    @Test func kernelThatDoesNotFitTheDumpFallsBackField() {
        let s = CrashSummary(dump: Fixture.standardDump, kernel: Fixture.kernel, info: nil, infoPath: nil, infoNote: nil)
        #expect(s.panicString.source == .messageBuffer)
        #expect(s.version.source == .messageBuffer)
        #expect(s.kernelMatches == true)
        #expect(s.kernelMatchBasis == "message buffer version line vs the image")
        #expect(s.hz.value == nil)
        #expect(s.hz.note?.hasPrefix("hz at 0xfffffe0010002120: ") == true)
        #expect(s.warnings.contains { $0.hasPrefix("note: msgbufp not used: ") })
    }

    @Test func infoFileOfAnotherDumpIsFlagged() {
        var info = fixtureInfo
        info.versionString = "FreeBSD 13.2-RELEASE-p4 GENERIC amd64\n"
        let s = CrashSummary(dump: Fixture.dump, kernel: Fixture.kernel, info: info, infoPath: "info.1", infoNote: nil)
        #expect(s.warnings.contains { $0.contains("info file's Version String does not match") })
    }

    @Test func timesAreFormattedWithoutFoundation() {
        #expect(formatUTC(seconds: 0) == "1970-01-01 00:00:00 UTC")
        #expect(formatUTC(seconds: 1_700_000_000) == "2023-11-14 22:13:20 UTC")
        #expect(formatUTC(seconds: 951_782_400) == "2000-02-29 00:00:00 UTC")
        #expect(formatUTC(seconds: -1) == "1969-12-31 23:59:59 UTC")
        #expect(formatDuration(seconds: 3723) == "1h2m3s")
        #expect(formatDuration(seconds: 90061) == "1d1h1m1s")
        #expect(formatDuration(seconds: 59) == "59s")
        #expect(formatDuration(seconds: 0) == "0s")
    }
}

@Suite struct SavecoreInfoParsing {
    @Test func parsesTheCurrentFormat() {
        let i = fixtureInfo
        #expect(i.device == "/dev/vtbd0p3")
        #expect(i.architecture == "amd64")
        #expect(i.architectureVersion == 2)
        #expect(i.dumpLength == 286_720)
        #expect(i.blockSize == 512)
        #expect(i.compression == "none")
        #expect(i.dumpTime == "2023-11-14 22:13:20 +0000")
        #expect(i.hostname == "fixture.kvmdump.test")
        #expect(i.magic == "FreeBSD Kernel Dump")
        #expect(i.versionString == "FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC amd64")
        #expect(i.panicString == "page fault")
        #expect(i.parity == 2_932_760_452)
        #expect(i.bounds == 1)
        #expect(i.status == "good")
        #expect(i.unrecognised.isEmpty)
    }

    @Test func parsesThePreLibxoFormatWithAMultiLineVersion() {
        let text = """
            Dump header from device /dev/ada0p3\r
              Architecture: amd64\r
              Architecture Version: 2\r
              Dump Length: 1073741824B (1024 MB)\r
              Blocksize: 512\r
              Dumptime: Tue Nov 14 22:13:20 2023\r
              Hostname: old.example.org\r
              Magic: FreeBSD Kernel Dump\r
              Version String: FreeBSD 10.4-RELEASE #0 r324094: Fri Sep 29 01:45:44 UTC 2017\r
                root@releng1.nyi.freebsd.org:/usr/obj/usr/src/sys/GENERIC\r
              Panic String: general protection fault\r
              Dump Parity: 632586923\r
              Bounds: 3\r
              Dump Status: good\r

            """
        let i = SavecoreInfo(text: text)
        #expect(i.device == "/dev/ada0p3")
        #expect(i.dumpLength == 1 << 30)
        #expect(i.compression == nil)
        #expect(i.dumpTime == "Tue Nov 14 22:13:20 2023")
        #expect(i.versionString == """
            FreeBSD 10.4-RELEASE #0 r324094: Fri Sep 29 01:45:44 UTC 2017
                root@releng1.nyi.freebsd.org:/usr/obj/usr/src/sys/GENERIC
            """)
        #expect(i.panicString == "general protection fault")
        #expect(i.bounds == 3)
        #expect(i.unrecognised.isEmpty)
    }

    @Test func toleratesOddInput() {
        #expect(SavecoreInfo(text: "") == SavecoreInfo(text: "\n\n"))
        let odd = SavecoreInfo(text: """
              Dump Length: lots
              Bounds: -1
              Panic String:
              Something Else: 3
            not an info line at all
            \u{0}\u{ff}
              Architecture: arm64
            """)
        #expect(odd.dumpLength == nil)
        #expect(odd.bounds == -1)
        #expect(odd.panicString == "")
        #expect(odd.architecture == "arm64")
        #expect(odd.unrecognised.count == 4)
        #expect(odd.unrecognised.first == "  Dump Length: lots")
        // A continuation only follows Version String / Panic String.
        let stray = SavecoreInfo(text: "  Hostname: a\n    b\n")
        #expect(stray.hostname == "a")
        #expect(stray.unrecognised == ["    b"])
    }

    @Test(arguments: [
        ("/var/crash/vmcore.3", "/var/crash/info.3"), ("vmcore.0", "info.0"), ("Fixtures/vmcore.1", "Fixtures/info.1"),
        ("/var/crash/vmcore.last", "/var/crash/info.last"), ("/c/vmcore.2.zst", "/c/info.2"), ("/c/livecore.0.gz", "/c/info.0"),
    ])
    func findsTheCompanionFile(_ dump: String, _ info: String) {
        #expect(SavecoreInfo.companionPath(forDump: dump) == info)
    }

    @Test func noCompanionForOtherNames() {
        #expect(SavecoreInfo.companionPath(forDump: "/tmp/core") == nil)
        #expect(SavecoreInfo.companionPath(forDump: "/tmp/vmcore.") == nil)
    }

    @Test func loadsTheFixtureAndReportsMissingFiles() throws {
        #expect(try SavecoreInfo.load(path: fixtures + "/info.1") == fixtureInfo)
        #expect(throws: SavecoreInfoError.self) { try SavecoreInfo.load(path: fixtures + "/info.missing") }
        do {
            _ = try SavecoreInfo.load(path: fixtures + "/info.missing")
        } catch {
            #expect(error.isMissing)
        }
        #expect(throws: SavecoreInfoError.tooLarge(path: fixtures + "/vmcore.1", limit: SavecoreInfo.maximumFileSize)) {
            try SavecoreInfo.load(path: fixtures + "/vmcore.1")
        }
        #expect(throws: SavecoreInfoError.notARegularFile(path: fixtures)) { try SavecoreInfo.load(path: fixtures) }
    }
}

@Suite struct KernelFixtureFiles {
    @Test func committedFilesMatchTheGenerator() throws {
        for file in try goldenKernelFiles() {
            let onDisk = try readFileBytes(atPath: fixtures + "/" + file.fileName)
            #expect(onDisk == file.bytes, "\(file.fileName) is stale: rerun mkvmcore --goldens Fixtures")
        }
    }

    @Test func malformedKernelImagesFailWithClearErrors() throws {
        let good = makeKernelELF(KernelFixture.kernelDescription())
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(good[at + $1]) << (8 * UInt64($1)) } }
        func set(_ bytes: inout [UInt8], _ at: Int, _ value: UInt64) {
            for i in 0..<8 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        let shoff = Int(u64(40))
        var badOffset = good
        set(&badOffset, 40, 0xffff_ffff_0000_0000)
        var symtabOutside = good
        set(&symtabOutside, shoff + 4 * 64 + 24, UInt64(good.count) + 0x1000)
        let cases: [([UInt8], String)] = [
            (Array(good.prefix(1000)), "k: section header table at \(hexString(UInt64(shoff))) + 64 × 7 runs past the end of the file (0x3e8)"),
            (badOffset, "k: section header table at 0xffffffff00000000 + 64 × 7 runs past the end of the file (0x810)"),
            (symtabOutside, "k: symbol table 4 (.symtab) at 0x1810 + 24 × 19 runs past the end of the file (0x810)"),
            (Array("not a kernel".utf8), "k: not an ELF file (magic 6e 6f 74 20, expected 7f 45 4c 46)"),
        ]
        for (bytes, message) in cases {
            #expect(throws: KernelImageError.self) { try KernelImage(bytes: bytes, name: "k") }
            do {
                _ = try KernelImage(bytes: bytes, name: "k")
            } catch {
                #expect(error.description == message)
            }
        }
    }
}

private func hexString(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

/// A kernel map shorter than `kernel_vm_end` (the riscv corruption that cuts the map's last 2 MiB
/// region) is said in the summary, naming the variable, the header's pmapsize and both ends.
@Suite struct KernelMapShorterThanKernelVMEnd {
    @Test func theSummaryWarnsWithBothEnds() throws {
        let kernel = try KernelImage(bytes: makeKernelELF(RISCVFixture.kernelDescription()), name: "kernel.riscv")
        let good = try generateRISCVDump(RISCVFixture.description(version: 2))
        let intact = try Dump(contents: good.bytes, name: "vmcore.riscv.v2")
        let summary = CrashSummary(dump: intact, kernel: kernel, info: nil, infoPath: nil, infoNote: nil)
        #expect(!summary.warnings.contains { $0.contains("kernel_vm_end") })
        let short = try #require(corrupt(good, with: .mapShorterThanKernelVMEnd))
        let dump = try Dump(contents: short, name: "vmcore.riscv.short")
        let warned = CrashSummary(dump: dump, kernel: kernel, info: nil, infoPath: nil, infoNote: nil)
        #expect(warned.warnings.contains(
            "WARNING: kernel_vm_end is 0xffffffc001000000 but the dump's kernel map (header pmapsize 28672) "
            + "ends at 0xffffffc000e00000: kernel addresses from there are not in the dump"))
    }
}

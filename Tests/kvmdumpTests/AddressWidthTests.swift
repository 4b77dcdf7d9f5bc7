/// Virtual addresses print in the dump's pointer width: 8 hex digits on i386 (as ddb, kgdb and procstat
/// print them), 16 on the 64-bit architectures; a value wider than the pointer is shown in full.
import Testing

/// The first line of standard output that starts with `prefix`, after the run succeeded with `status`.
private func line(_ arguments: [String], startingWith prefix: String, status: Int32 = 0) throws -> String? {
    let result = try Tool.run(arguments)
    #expect(result.status == status, "kvmdump \(arguments.joined(separator: " ")): \(result.stderrText)")
    return result.stdoutText.split(separator: "\n").map(String.init).first { $0.hasPrefix(prefix) }
}

@Suite("Address width follows the pointer size")
struct AddressWidthTests {
    @Test("i386 read: hexdump and word columns in 8 digits")
    func i386Read() throws {
        let dump = ["-M", "Fixtures/vmcore.i386.pae"]
        #expect(try line(dump + ["read", "0xc00000", "--len", "16"], startingWith: "00c00000")
                == "00c00000  46 72 65 65 42 53 44 20  31 33 2e 32 2d 52 45 4c  |FreeBSD 13.2-REL|")
        #expect(try line(dump + ["read", "0xc00000", "--len", "16"], startingWith: "00c00010") == "00c00010")
        #expect(try line(dump + ["read", "0xc01100", "--len", "8", "--u32"], startingWith: "0x") == "0x00c01100: 0x00c00200 0x00ffffc8")
    }

    @Test("i386 pages, translate and bt: 8-digit virtual addresses, physical ones unpadded")
    func i386PagesTranslateBacktrace() throws {
        let pages = try line(["pages", "Fixtures/vmcore.i386.nopae"], startingWith: "kernel")
        #expect(pages?.hasPrefix("kernel  0x00800000  0x00810000  0x800000") == true, "\(pages ?? "")")
        #expect(try line(["-M", "Fixtures/vmcore.i386.pae", "translate", "0xc00010"], startingWith: "va")
                == "va 0x00c00010 pa 0x35f010 offset 0xf010 map kernel page 4K")
        let threads = ["-N", "Fixtures/kernel.i386.threads", "-M", "Fixtures/vmcore.i386.threads", "bt"]
        #expect(try line(threads, startingWith: "#0 ") == "#0 0x008012d8 at doadump+0x18")
        #expect(try line(threads, startingWith: "stop:") == "stop: user-trapframe: syscall from user mode (trapframe at 0x00a0bef8)")
    }

    @Test("64-bit dumps keep 16 digits")
    func amd64Unchanged() throws {
        #expect(try line(["-M", "Fixtures/vmcore.0", "read", "0xfffffe00002083c0", "--len", "16"], startingWith: "fffffe00002083c0")
                == "fffffe00002083c0  55 37 e3 ac ae ef fd 88  6b 76 6d 64 75 6d 70 5f  |U7......kvmdump_|")
        #expect(try line(["pages", "Fixtures/vmcore.0"], startingWith: "kernel")?
                    .hasPrefix("kernel  0xfffffe0000200000  0xfffffe0000201000  0x731000") == true)
        #expect(try line(["-N", "Fixtures/kernel.2", "-M", "Fixtures/vmcore.2", "bt"], startingWith: "#0 ")
                == "#0 0xfffffe0010000315 at doadump+0x15")
    }

    @Test("an i386 address wider than 32 bits is shown in full, not cut to 8 digits")
    func wideAddressOnI386() throws {
        let result = try Tool.run(["-M", "Fixtures/vmcore.i386.pae", "translate", "0xfffff80000001000", "0x1000"])
        #expect(result.status == 1)
        let errors = result.stderrText.split(separator: "\n").map(String.init)
        #expect(errors.first?.hasPrefix("kvmdump: Fixtures/vmcore.i386.pae: 0xfffff80000001000: not a 32-bit address") == true,
                "\(result.stderrText)")
        #expect(errors.last?.hasPrefix("kvmdump: Fixtures/vmcore.i386.pae: 0x00001000: not in the kernel map") == true,
                "\(result.stderrText)")
        let json = try Tool.run(["-M", "Fixtures/vmcore.i386.pae", "translate", "--json", "0xfffff80000001000"])
        #expect(json.stdoutText.hasPrefix("[{\"va\":\"0xfffff80000001000\","), "\(json.stdoutText)")
    }
}

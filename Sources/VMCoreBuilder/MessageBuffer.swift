/// The reserved msgbuf memory as the kernel left it: ring, then (maybe) `struct msgbuf` (spec §4).
struct MessageBufferImage {
    /// `reservedSize` bytes: the msgbuf section and also the content of the msgbuf's physical pages.
    var bytes: [UInt8]
    var writeSequence: UInt32
    var readSequence: UInt32
    var messageText: [UInt8]
    var unreadText: [UInt8]

    init(_ m: MessageBufferDescription, ringAddress: UInt64) throws(GeneratorError) {
        let size = m.ringSize
        guard m.reservedSize > 0, m.reservedSize % 4096 == 0, size > 0 else {
            throw .invalidDescription("message buffer reservation \(m.reservedSize) must be a positive multiple of 4096 larger than the struct")
        }
        guard m.unreadLength >= 0, m.unreadLength <= min(size, m.text.count) else {
            throw .invalidDescription("unread length \(m.unreadLength) exceeds the ring or the text")
        }
        bytes = [UInt8](repeating: 0, count: m.reservedSize)
        let count = m.text.count
        for s in max(0, count - size)..<count { bytes[s % size] = m.text[s] }
        let seqmod = UInt64(size) * 16
        writeSequence = UInt32(UInt64(count) % seqmod)
        readSequence = UInt32((UInt64(count - m.unreadLength)) % seqmod)
        messageText = Array(m.text[max(0, count - size)...])
        unreadText = Array(m.text[(count - m.unreadLength)...])
        guard m.structState != .absent else { return }
        let s = size
        let checksum = bytes[0..<size].reduce(UInt32(0)) { $0 &+ UInt32($1) }
        setU64LE(&bytes, at: s, ringAddress)
        setU32LE(&bytes, at: s + 8, m.structState == .badMagic ? 0x0bad_f00d : MessageBufferDescription.magic)
        setU32LE(&bytes, at: s + 12, m.structState == .badSize ? UInt32(m.reservedSize * 4) : UInt32(size))
        setU32LE(&bytes, at: s + 16, writeSequence)
        setU32LE(&bytes, at: s + 20, readSequence)
        setU32LE(&bytes, at: s + 24, checksum)
        setU32LE(&bytes, at: s + 28, UInt32(seqmod))
        setU32LE(&bytes, at: s + 32, UInt32(bitPattern: -1))
        setU32LE(&bytes, at: s + 36, 0)
        // FreeBSD 7/8 (40 bytes): nothing after msg_lastpri but the padding, the last bytes of the page.
        guard m.structLayout == .current else { return }
        setU64LE(&bytes, at: s + 40, 0xffff_ffff_8123_a5c0)
        setU32LE(&bytes, at: s + 48, 0x0103_0000)
        setU32LE(&bytes, at: s + 52, 0)
        setU64LE(&bytes, at: s + 56, 0)
        setU64LE(&bytes, at: s + 64, 4)
    }
}

extension MessageBufferDescription {
    /// A FreeBSD 14.1 boot log ending in "panic: page fault" and a backtrace, varied by `seed`.
    ///
    /// The unread portion is the panic report (from "Fatal trap 12"). With `wrap`, harmless log lines are
    /// added until the text overruns the ring and the unread portion itself wraps past the ring's end.
    public static func panicDmesg(seed: UInt64, physicalMemory: UInt64, reservedSize: Int = 96 * 1024,
                                  structState: StructState = .valid, wrap: Bool = false,
                                  structLayout: StructLayout = .current) -> MessageBufferDescription {
        var rng = SplitMix64(seed: seed ^ 0x6d73_6762_7566_0000)
        let boot = bootLog(rng: &rng, physicalMemory: physicalMemory)
        let tail = panicReport(rng: &rng, physicalMemory: physicalMemory)
        var filler: [UInt8] = []
        let ring = structState == .absent ? reservedSize : reservedSize - (structLayout == .freebsd7 ? 40 : structSize)
        if wrap {
            var total = boot.count + tail.count
            while total <= ring + ring / 4 || total % ring >= tail.count / 2 {
                let line = fillerLine(rng: &rng)
                filler += line
                total += line.count
            }
        }
        var description = MessageBufferDescription(reservedSize: reservedSize, text: boot + filler + tail,
                                                   unreadLength: min(tail.count, ring), structState: structState)
        description.structLayout = structLayout
        return description
    }

    private static func bootLog(rng: inout SplitMix64, physicalMemory: UInt64) -> [UInt8] {
        let realMB = physicalMemory >> 20
        let availMB = realMB - realMB / 32
        let mac = (0..<3).map { _ in String(rng.next(below: 256), radix: 16).leftPadded(2) }.joined(separator: ":")
        let lines = [
            "---<<BOOT>>---",
            "Copyright (c) 1992-2023 The FreeBSD Project.",
            "Copyright (c) 1979, 1980, 1983, 1986, 1988, 1989, 1991, 1992, 1993, 1994",
            "\tThe Regents of the University of California. All rights reserved.",
            "FreeBSD is a registered trademark of The FreeBSD Foundation.",
            "FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC amd64",
            "FreeBSD clang version 18.1.5 (https://github.com/llvm/llvm-project.git llvmorg-18.1.5-0-g617a15a9eac9)",
            "VT(vga): text 80x25",
            "CPU: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz (2394.45-MHz K8-class CPU)",
            "  Origin=\"GenuineIntel\"  Id=0x406f1  Family=0x6  Model=0x4f  Stepping=1",
            "  Features=0x1f83fbff<FPU,VME,DE,PSE,TSC,MSR,PAE,MCE,CX8,APIC,SEP,MTRR,PGE,MCA,CMOV,PAT,PSE36,MMX,FXSR,SSE,SSE2,SS>",
            "  Features2=0xfffa3203<SSE3,PCLMULQDQ,SSSE3,FMA,CX16,PCID,SSE4.1,SSE4.2,x2APIC,MOVBE,POPCNT,AESNI,XSAVE,OSXSAVE,AVX,F16C,RDRAND,HV>",
            "  AMD Features=0x2c100800<SYSCALL,NX,Page1GB,RDTSCP,LM>",
            "  AMD Features2=0x121<LAHF,ABM,Prefetch>",
            "Hypervisor: Origin = \"KVMKVMKVM\"",
            "real memory  = \(physicalMemory) (\(realMB) MB)",
            "avail memory = \(availMB << 20) (\(availMB) MB)",
            "Event timer \"LAPIC\" quality 600",
            "ACPI APIC Table: <BOCHS  BXPC    >",
            "FreeBSD/SMP: Multiprocessor System Detected: 2 CPUs",
            "FreeBSD/SMP: 2 package(s) x 1 core(s)",
            "random: unblocking device.",
            "ioapic0 <Version 1.1> irqs 0-23",
            "Launching APs: 1",
            "random: entropy device external interface",
            "kbd1 at kbdmux0",
            "vtvga0: <VT VGA driver>",
            "smbios0: <System Management BIOS> at iomem 0xf5a90-0xf5aae",
            "smbios0: Version: 2.8, BCD Revision: 2.8",
            "aesni0: <AES-CBC,AES-CCM,AES-GCM,AES-ICM,AES-XTS>",
            "acpi0: <BOCHS BXPC>",
            "acpi0: Power Button (fixed)",
            "cpu0: <ACPI CPU> on acpi0",
            "atrtc0: <AT realtime clock> port 0x70-0x77 irq 8 on acpi0",
            "Timecounter \"HPET\" frequency 100000000 Hz quality 950",
            "pcib0: <ACPI Host-PCI bridge> port 0xcf8-0xcff on acpi0",
            "pci0: <ACPI PCI bus> on pcib0",
            "virtio_pci0: <VirtIO PCI (legacy) Network adapter> port 0xc040-0xc05f mem 0xfebd1000-0xfebd1fff irq 11 at device 3.0 on pci0",
            "vtnet0: <VirtIO Networking Adapter> on virtio_pci0",
            "vtnet0: Ethernet address: 52:54:00:\(mac)",
            "virtio_pci1: <VirtIO PCI (legacy) Block adapter> port 0xc000-0xc03f mem 0xfebd2000-0xfebd2fff irq 10 at device 4.0 on pci0",
            "vtblk0: <VirtIO Block Adapter> on virtio_pci1",
            "vtblk0: 20480MB (41943040 512 byte sectors)",
            "Timecounters tick every 1.000 msec",
            "Trying to mount root from ufs:/dev/vtbd0p2 [rw]...",
            "<5>vtnet0: link state changed to UP",
            "<6>Security policy loaded: MAC/ntpd (mac_ntpd)",
            "Setting hostuuid: 5b0c1f2e-8d4a-4c6e-9f1a-3e2d7c6b5a49.",
            "Starting file system checks:",
            "/dev/vtbd0p2: FILE SYSTEM CLEAN; SKIPPING CHECKS",
            "Starting syslogd.",
            "<13>Nov 14 22:13:20 fixture root: kvmdump fixture boot complete",
            "Starting sshd.",
        ]
        return Array(lines.map { $0 + "\n" }.joined().utf8)
    }

    private static func panicReport(rng: inout SplitMix64, physicalMemory: UInt64) -> [UInt8] {
        func kva() -> String { hex(0xffff_ffff_80a0_0000 + rng.next(below: 0x60_0000)) }
        let pid = 1000 + rng.next(below: 9000)
        let frames = ["kdb_backtrace+0x5d", "vpanic+0x132", "panic+0x43", "trap_fatal+0x40c", "trap_pfault+0x4f",
                      "calltrap+0x8", "vn_fullpath_any+0x2c", "sys_fixture_crash+0x41", "amd64_syscall+0x109",
                      "fast_syscall_common+0xf8"]
        var lines = [
            "", "",
            "Fatal trap 12: page fault while in kernel mode",
            "cpuid = 1; apic id = 01",
            "fault virtual address\t= 0x18",
            "fault code\t\t= supervisor read data, page not present",
            "instruction pointer\t= 0x20:\(kva())",
            "stack pointer\t        = 0x28:0xfffffe00dbbcfb20",
            "frame pointer\t        = 0x28:0xfffffe00dbbcfb50",
            "code segment\t\t= base 0x0, limit 0xfffff, type 0x1b",
            "\t\t\t= DPL 0, pres 1, long 1, def32 0, gran 1",
            "processor eflags\t= interrupt enabled, resume, IOPL = 0",
            "current process\t\t= \(pid) (kvmdump_fixture)",
            "trap number\t\t= 12",
            "panic: page fault",
            "cpuid = 1",
            "time = 1700000000",
            "KDB: stack backtrace:",
        ]
        for (i, f) in frames.enumerated() { lines.append("#\(i) \(kva()) at \(f)") }
        lines.append("Uptime: 1h2m3s")
        let text = lines.joined(separator: "\n") + "\nDumping \(1 + rng.next(below: max(1, physicalMemory >> 24))) out of \(physicalMemory >> 20) MB:"
        return Array(text.utf8)
    }

    private static func fillerLine(rng: inout SplitMix64) -> [UInt8] {
        let pid = 100 + rng.next(below: 90000)
        let line: String
        switch rng.next(below: 4) {
        case 0: line = "<6>pid \(pid) (sh), jid 0, uid 0: exited on signal 11 (core dumped)"
        case 1: line = "<4>arp: 10.0.0.\(rng.next(below: 250)) moved from 52:54:00:00:00:01 to 52:54:00:00:00:02 on vtnet0"
        case 2: line = "<5>sonewconn: pcb 0xfffff8000\(String(rng.next(below: 0x100000), radix: 16)) (0.0.0.0:22): Listen queue overflow"
        default: line = "<6>vtnet0: watchdog timeout on queue \(rng.next(below: 4))"
        }
        return Array((line + "\n").utf8)
    }
}

extension String {
    /// The string left-padded with zeros to `width` characters.
    fileprivate func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// arm64: `struct pcb` (two layouts, as LLDB's RegisterContextFreeBSDKernelCore_arm64.cpp reads them),
/// INKERNEL, the AAPCS64 frame-record walk of ddb (FSRC sys/arm64/arm64/db_trace.c, unwind.c) and its
/// exception-vector frames (exception.S: handle_el1h_sync and the rest). Spec beyond-amd64 §1.8, §1.9.
import MinidumpCore

enum ARM64Threads: ThreadArchitecture {
    static let elfMachine: UInt16 = 183
    static let name = "arm64"
    /// An estimate of sizeof(struct pcb) from the field sizes of sys/arm64/include/pcb.h (with the VFP
    /// state and debug registers); only used when the kernel lacks `pcb_size`.
    static let defaultPCBSize = 0x4f0
    /// arm64 declares `struct pcb stoppcbs[MAXCPU]` (sys/arm64/arm64/mp_machdep.c): always an array.
    static let stoppcbsPointerSince: UInt32? = nil

    /// The registers a pcb holds, reported in this order: pc (= the saved lr, where the thread resumes),
    /// sp, fp (x29), lr (x30), then the callee-saved x19–x28.
    static let registerNames = ["pc", "sp", "fp", "lr", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28"]

    /// From `osreldate` 1400084 the pcb starts `pcb_x[12]` (x19–x28, fp at index 10, lr at 11) then
    /// `pcb_sp`; before it, FreeBSD 13's `pcb_x[30]`, `pcb_lr`, a reserved word, `pcb_sp`. Without
    /// `osreldate` the newer layout is assumed, as LLDB does.
    static let newPCBSince: UInt32 = 1_400_084

    private static func isNewPCB(_ kernel: KernelFacts) -> Bool { (kernel.osreldate ?? newPCBSince) >= newPCBSince }

    static func pcbRegisterBytes(_ kernel: KernelFacts) -> Int { isNewPCB(kernel) ? 0x68 : 0x108 }

    static func registers(pcb: [UInt8], _ kernel: KernelFacts) -> [UInt64] {
        let f = Fields(bytes: pcb, base: 0)
        // Byte offsets of x19, fp, lr and sp.
        let (x19, fp, lr, sp) = isNewPCB(kernel) ? (0x00, 0x50, 0x58, 0x60) : (0x98, 0xe8, 0xf0, 0x100)
        guard let fpValue = f.u64(fp), let lrValue = f.u64(lr), let spValue = f.u64(sp) else { return [] }
        var out = [canonical(lrValue), spValue, fpValue, lrValue]
        out.reserveCapacity(registerNames.count)
        for i in 0..<10 {
            guard let value = f.u64(x19 + 8 * i) else { return [] }
            out.append(value)
        }
        return out
    }

    /// ADDR_MAKE_CANONICAL (sys/arm64/include/vmparam.h): bits 63–48 cleared, then all set if bit 55 is
    /// set, which removes pointer-authentication codes and top-byte tags.
    static func canonical(_ pointer: UInt64) -> UInt64 {
        let low = pointer & 0x0000_ffff_ffff_ffff
        return pointer & (1 << 55) != 0 ? low | 0xffff_0000_0000_0000 : low
    }

    /// The upper half of the address space (ADDR_IS_KERNEL once canonical): the kernel map from
    /// VM_MIN_KERNEL_ADDRESS 0xffff000000000000 and the direct map [0xffffa00000000000, 0xffffff0000000000)
    /// both lie there, and VM_MAX_KERNEL_ADDRESS has grown between releases.
    static func isKernelAddress(_ va: UInt64) -> Bool { va >= 0xffff_0000_0000_0000 }

    /// The exception vectors of exception.S, as ddb names its frame types.
    enum Vector: UInt8 {
        case sync = 1, irq = 2, serror = 3, unhandled = 5

        var kind: String {
            switch self {
            case .sync: "exception"
            case .irq: "interrupt"
            case .serror: "system error"
            case .unhandled: "unhandled exception"
            }
        }
    }

    /// Tags: 1–3 and 5 the vectors (`Vector`), 4 `fork_trampoline` (the bottom of a kernel thread).
    static func symbolTag(_ name: String) -> UInt8 {
        switch name {
        case "handle_el0_sync", "handle_el1h_sync": Vector.sync.rawValue
        case "handle_el0_irq", "handle_el1h_irq": Vector.irq.rawValue
        case "handle_serror": Vector.serror.rawValue
        case "handle_empty_exception": Vector.unhandled.rawValue
        case "fork_trampoline": 4
        default: 0
        }
    }

    /// The exception class (ESR_ELx bits 31–26) in words, for the classes a kernel backtrace shows.
    static func exceptionClassName(_ esr: UInt64) -> String? {
        switch (esr >> 26) & 0x3f {
        case 0x00: "unknown reason"
        case 0x07: "FP/SIMD access"
        case 0x11: "svc (AArch32)"
        case 0x15: "svc (AArch64)"
        case 0x20: "instruction abort from a lower EL"
        case 0x21: "instruction abort"
        case 0x22: "pc alignment fault"
        case 0x24: "data abort from a lower EL"
        case 0x25: "data abort"
        case 0x26: "sp alignment fault"
        case 0x3c: "brk instruction"
        default: nil
        }
    }

    /// One layout of `struct trapframe` (sys/arm64/include/frame.h): tf_sp, tf_lr and tf_elr at 0, 8
    /// and 16 and tf_spsr at 24 in every release; tf_x[30] last.
    struct TrapframeLayout: Equatable {
        let size: Int
        let esr: Int
        let esrIs64: Bool
        let x: Int

        /// 272 bytes: 32-bit tf_spsr and tf_esr (FreeBSD 12–13; the oldest form, a 64-bit tf_spsr and no
        /// tf_esr, has the same size and offsets).
        static let narrow = TrapframeLayout(size: 0x110, esr: 28, esrIs64: false, x: 32)
        /// 288 bytes: 64-bit tf_spsr and tf_esr and a tf_far (FreeBSD 14).
        static let wide = TrapframeLayout(size: 0x120, esr: 32, esrIs64: true, x: 48)
    }

    /// The layouts to try, the one `osreldate` suggests first (FreeBSD 14 from 1400000; without
    /// `osreldate` the newer one).
    static func trapframeLayouts(_ kernel: KernelFacts) -> [TrapframeLayout] {
        (kernel.osreldate ?? 1_400_000) >= 1_400_000 ? [.wide, .narrow] : [.narrow, .wide]
    }

    /// A decoded trapframe.
    struct Trapframe {
        let address: UInt64
        let sp: UInt64, elr: UInt64, spsr: UInt32, esr: UInt64, fp: UInt64
        /// SPSR.M: EL0 (M[3:2] = 0) or AArch32 (M[4] = 1) is user mode.
        var fromUser: Bool { spsr & 0x10 != 0 || spsr & 0xc == 0 }
        /// A mode an exception can come from: EL0t, EL1t, EL1h, or AArch32 user.
        var validMode: Bool { [0x00, 0x04, 0x05, 0x10].contains(spsr & 0x1f) }
        /// Consistent: a valid mode, and the saved pc in the half of the address space the mode runs in.
        var plausible: Bool { validMode && fromUser != ARM64Threads.isKernelAddress(elr) }
    }

    /// The trapframe below the exception vector's frame record at `record` (save_registers puts the
    /// record at sp + TF_SIZE and the trapframe at sp, so ddb finds it at `fp - sizeof(struct trapframe)`):
    /// the first layout that decodes plausibly, else the preferred one; nil if unreadable.
    static func trapframe(below record: UInt64, memory: Memory, kernel: KernelFacts) -> Result<Trapframe, ReadFailure> {
        var first: Trapframe?
        var missing: String?
        for layout in trapframeLayouts(kernel) where record >= UInt64(layout.size) {
            let address = record - UInt64(layout.size)
            guard let bytes = memory.bytes(address, layout.size) else {
                missing = missing ?? "trapframe at \(memory.hexAddress(address)) is not in the dump"
                continue
            }
            let f = Fields(bytes: bytes, base: 0)
            let esr = layout.esrIs64 ? f.u64(layout.esr)! : UInt64(f.u32(layout.esr)!)
            let tf = Trapframe(address: address, sp: f.u64(0)!, elr: canonical(f.u64(16)!), spsr: f.u32(24)!, esr: esr,
                               fp: canonical(f.u64(layout.x + 29 * 8)!))
            if tf.plausible { return .success(tf) }
            first = first ?? tf
        }
        if let first { return .success(first) }
        return .failure(ReadFailure(reason: missing ?? "no trapframe fits below \(memory.hexAddress(record))"))
    }

    /// Frame 0 from the pcb (pc = pcb lr, sp = pcb_sp, fp = x29), then the frame records: [fp] the caller's
    /// fp, [fp + 8] the return address (canonicalised: PAC bits stripped); a frame found at fp has
    /// sp = fp + 16. A return address whose call (ra − 4, as unwind_frame looks it up) lies in an exception
    /// vector makes a vector frame: its trapframe lies below the vector's own frame record (the fp that
    /// record's callee saved), and the walk goes on from tf_elr / tf_sp / tf_x[29] unless it came from user
    /// mode. `fork_trampoline` ends a kernel thread. Frame pointers must be 8-byte aligned (unwind_frame) and
    /// increase between trapframes, and a trapframe's fp may not come again.
    static func unwind(registers: [UInt64], memory: Memory, symbols: KernelSymbolizer,
                       limits: WalkLimits, kernel: KernelFacts) -> Backtrace {
        guard registers.count == registerNames.count else {
            return Backtrace(frames: [], stop: .unreadable, detail: "the pcb's registers are incomplete")
        }
        var fp = canonical(registers[2])
        var list = FrameList(symbols: symbols)
        if let end = list.start(pc: registers[0], sp: registers[1], fp: fp, pcName: "the pcb's lr", limits: limits,
                                isKernel: isKernelAddress, forkTrampolineTag: 4) { return end }
        var trapFPs: [UInt64] = []
        var stack = PageReader(memory: memory)
        while true {
            guard list.count < limits.maxFrames else { return list.done(.frameLimit, "\(limits.maxFrames) frames") }
            guard isKernelAddress(fp) else { return list.done(.fpNotKernel, "frame pointer \(hex(fp)) is not a kernel address") }
            guard fp & 7 == 0 else { return list.done(.fpNotKernel, "frame pointer \(hex(fp)) is not 8-byte aligned") }
            guard let saved = stack.u64(fp), let raw = stack.u64(fp &+ 8) else {
                return list.done(.unreadable, "frame record at \(memory.hexAddress(fp)) is not in the dump")
            }
            let ret = canonical(raw)
            let next = canonical(saved)
            guard ret != 0 else { return list.done(.zeroReturnAddress, "return address at \(memory.hexAddress(fp &+ 8)) is 0") }
            guard isKernelAddress(ret) else {
                return list.done(.pcNotKernel, "return address \(hex(ret)) at \(memory.hexAddress(fp &+ 8)) is not a kernel address")
            }
            let tag = symbols.entry(ret &- 4).map { symbols.tag($0.index) } ?? 0
            guard tag != 0 else {
                list.add(ret, fp &+ 16, next)
                if isKernelAddress(next) && next <= fp {
                    return list.done(.loop, "saved frame pointer \(hex(next)) at \(memory.hexAddress(fp)) does not lie above \(hex(fp))")
                }
                fp = next
                continue
            }
            if tag == 4 {
                list.add(ret, fp &+ 16, next)
                return list.done(.threadStart, .forkTrampoline)
            }
            // A vector: `next` is its frame record, right above its trapframe.
            guard isKernelAddress(next), next > fp else {
                list.add(ret, fp &+ 16, next)
                return list.done(.loop, "exception frame record \(hex(next)) saved at \(memory.hexAddress(fp)) does not lie above \(hex(fp))")
            }
            let tf: Trapframe
            switch trapframe(below: next, memory: memory, kernel: kernel) {
            case .success(let found): tf = found
            case .failure(let failure):
                list.add(ret, fp &+ 16, next)
                return list.done(.unreadable, failure.reason)
            }
            let vector = Vector(rawValue: tag) ?? .sync
            let number = vector == .irq ? 0 : tf.esr
            list.add(ret, fp &+ 16, next, trap: TrapFrameInfo(
                kind: vector.kind, number: number, name: vector == .irq ? nil : exceptionClassName(tf.esr),
                address: VirtualAddress(tf.address), pc: tf.elr, sp: tf.sp, fp: tf.fp, fromUser: tf.fromUser,
                registerNames: ("pc", "sp", "fp")))
            if tf.fromUser { return list.done(.userTrapframe, .fromUser(kind: vector.kind, trapframe: tf.address, width: memory.dump.addressWidth)) }
            guard list.count < limits.maxFrames else { return list.done(.frameLimit, "\(limits.maxFrames) frames") }
            list.add(tf.elr, tf.sp, tf.fp)
            guard tf.elr != 0 else { return list.done(.noPC, "kernel-mode trapframe at \(memory.hexAddress(tf.address)) has elr 0") }
            guard isKernelAddress(tf.elr) else { return list.done(.pcNotKernel, "trapframe elr \(hex(tf.elr)) is not a kernel address") }
            if trapFPs.contains(tf.fp) { return list.done(.loop, "trapframe fp \(hex(tf.fp)) was seen before") }
            trapFPs.append(tf.fp)
            fp = tf.fp
        }
    }
}

/// The frames of one backtrace as an architecture's unwinder finds them: numbering, symbol lookup, frame 0
/// from the pcb and the stop that ends the walk. The same for every architecture; the walk between frames
/// (frame layout, trapframes) stays in each architecture's file.

/// A backtrace being built.
struct FrameList {
    private let symbols: KernelSymbolizer
    /// The address a pc is looked up at (i386 moves trampoline addresses back to the stubs' linked addresses).
    private let linked: (UInt64) -> UInt64
    private var frames: [StackFrame] = []

    init(symbols: KernelSymbolizer, linked: @escaping (UInt64) -> UInt64 = { $0 }) {
        self.symbols = symbols
        self.linked = linked
        frames.reserveCapacity(16)
    }

    /// Frames so far.
    var count: Int { frames.count }

    /// Appends the next frame, named by the symbol at its (linked) pc.
    mutating func add(_ pc: UInt64, _ sp: UInt64, _ fp: UInt64, trap: TrapFrameInfo? = nil) {
        let symbol = symbols.entry(linked(pc))
        frames.append(StackFrame(number: frames.count, pc: pc, sp: sp, fp: fp, function: symbol.map { symbols.name($0.index) },
                                 offset: symbol?.offset ?? 0, trap: trap))
    }

    /// The backtrace: the frames so far and why the walk stopped.
    func done(_ stop: StopReason, _ detail: String) -> Backtrace { Backtrace(frames: frames, stop: stop, detail: detail) }
    func done(_ stop: StopReason, _ detail: Backtrace.Detail) -> Backtrace { Backtrace(frames: frames, stop: stop, detail: detail) }

    /// Frame 0 from the pcb's pc, sp and fp (`pcName` names the pc in the stop's words, e.g. "pcb_rip").
    /// Returns the finished backtrace when the walk ends there (pc 0, a frame limit of 0, a pc outside the
    /// kernel, a thread that has not run: pc in the function tagged `forkTrampolineTag`), else nil.
    mutating func start(pc: UInt64, sp: UInt64, fp: UInt64, pcName: String, limits: WalkLimits,
                        isKernel: (UInt64) -> Bool, forkTrampolineTag: UInt8) -> Backtrace? {
        guard pc != 0 else { return done(.noPC, "\(pcName) is 0") }
        guard limits.maxFrames > 0 else { return done(.frameLimit, "the frame limit is 0") }
        add(pc, sp, fp)
        guard isKernel(pc) else { return done(.pcNotKernel, "\(pcName) \(hex(pc)) is not a kernel address") }
        if let e = symbols.entry(linked(pc)), symbols.tag(e.index) == forkTrampolineTag {
            return done(.threadStart, "the thread has not run yet (\(pcName) in fork_trampoline)")
        }
        return nil
    }
}

/// The trap names amd64's `trap_msg[]` (sys/amd64/amd64/trap.c) and i386's `trap_data[]`
/// (sys/i386/i386/trap.c) share; each of those architectures adds its own differences.

/// The name of x86 trap `number` (T_USER, 0x100, masked off): `own[number]` first, then the shared table.
func x86TrapName(_ number: UInt64, own: [UInt64: String]) -> String? {
    let number = number & ~0x100
    if let name = own[number] { return name }
    return switch number {
    case 1: "privileged instruction fault"
    case 3: "breakpoint instruction fault"
    case 6: "arithmetic trap"
    case 9: "general protection fault"
    case 12: "page fault"
    case 14: "alignment fault"
    case 18: "integer divide fault"
    case 19: "non-maskable interrupt trap"
    case 20: "overflow trap"
    case 21: "FPU bounds check fault"
    case 22: "FPU device not available"
    case 23: "double fault"
    case 24: "FPU operand fetch fault"
    case 25: "invalid TSS fault"
    case 26: "segment not present fault"
    case 27: "stack fault"
    case 28: "machine check trap"
    case 29: "SIMD floating-point exception"
    case 32: "DTrace pid return trap"
    default: nil
    }
}

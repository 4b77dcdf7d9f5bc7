/// Pages that compress like a kernel dump's memory (for the decoder tests and benchmark): zero pages,
/// console-like text, kernel-pointer tables, code-like bytes and random pages, 4, 2, 2, 1 and 1 in 10.
public func dumpLikePages(count: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    let words = Array("the quick kernel panic trap vm_fault page fault while in kernel mode cpuid = 3 apic id = 03 fault virtual address = 0x0 stack pointer = 0x28:0xfffffe00 frame pointer code segment = base 0x0, limit 0xfffff, type 0x1b ".utf8)
    let ops: [UInt8] = [0x55, 0x48, 0x89, 0xe5, 0x41, 0x57, 0x41, 0x56, 0x53, 0x50, 0xe8, 0x8b, 0x45, 0xc3, 0x0f, 0x1f, 0x44, 0x00]
    var out = [UInt8](repeating: 0, count: count * 4096)
    for p in 0..<count {
        let base = p * 4096
        switch rng.next() % 10 {
        case 0...3: break
        case 4, 5:
            var i = 0
            while i < 4096 {
                let start = Int(rng.next() % UInt64(words.count - 40))
                let n = min(4096 - i, 5 + Int(rng.next() % 30))
                for k in 0..<n { out[base + i + k] = words[start + k] }
                i += n
            }
        case 6, 7:
            for w in 0..<512 {
                let v: UInt64 = rng.next() % 4 == 0 ? 0 : 0xffff_f800_0000_0000 | (rng.next() % 0x4000_0000) << 4
                for k in 0..<8 { out[base + w * 8 + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
            }
        case 8:
            for i in 0..<4096 {
                out[base + i] = rng.next() % 3 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : ops[Int(rng.next() % UInt64(ops.count))]
            }
        default:
            for i in stride(from: 0, to: 4096, by: 8) {
                let v = rng.next()
                for k in 0..<8 { out[base + i + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
            }
        }
    }
    return out
}

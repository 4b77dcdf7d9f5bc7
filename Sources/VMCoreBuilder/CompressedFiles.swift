/// Compressed copies of a dump as the kernel writes them (spec beyond-amd64 §5), made without
/// compressing: gzip as one member with the kernel's fixed 10-byte header and stored deflate
/// blocks, CRC-32 and ISIZE; zstd as one frame without content size, with a 2 MiB window, raw
/// blocks and RLE blocks for runs of one byte, and the XXH64 content checksum. Independent of the
/// Decompress module, so that the committed fixtures and the tests check it against a second model.

/// `data` as a gzip file: header `1f 8b 08 00 00000000 00 03`, stored blocks of at most 65535 bytes.
public func gzipStored(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]
    var start = 0
    repeat {
        let n = min(65535, data.count - start)
        let final: UInt8 = start + n == data.count ? 1 : 0
        out.append(final)  // BFINAL, BTYPE 00, then aligned to the byte
        appendLE(&out, UInt64(n), bytes: 2)
        appendLE(&out, UInt64(~UInt16(n)), bytes: 2)
        out += data[start..<(start + n)]
        start += n
    } while start < data.count
    appendLE(&out, UInt64(crc32(data)), bytes: 4)
    appendLE(&out, UInt64(UInt32(truncatingIfNeeded: data.count)), bytes: 4)
    return out
}

/// `data` as one zstd frame: blocks of `blockSize` (≤ 128 KiB) bytes, each RLE if it is one byte
/// repeated, else raw; window 2 MiB (the kernel's level 6), no content size, content checksum on.
public func zstdUncompressed(_ data: [UInt8], blockSize: Int = 4096) -> [UInt8] {
    precondition(blockSize > 0 && blockSize <= 1 << 17)
    var out: [UInt8] = [0x28, 0xb5, 0x2f, 0xfd]
    out.append(0x04)          // Frame_Header_Descriptor: checksum flag only
    out.append((21 - 10) << 3)  // Window_Descriptor: 2^21
    var start = 0
    repeat {
        let n = min(blockSize, data.count - start)
        let last = start + n == data.count ? 1 : 0
        let block = data[start..<(start + n)]
        let rle = n > 1 && block.allSatisfy { $0 == block.first }
        appendLE(&out, UInt64(last | (rle ? 1 : 0) << 1 | n << 3), bytes: 3)
        if rle { out.append(block.first!) } else { out += block }
        start += n
    } while start < data.count
    appendLE(&out, xxh64(data) & 0xffff_ffff, bytes: 4)
    return out
}

/// The compressed golden fixtures: `vmcore.0` as `.gz` and `.zst`, and the zstd one cut inside a
/// block (`vmcore.0.cut.zst`: its first 100000 bytes), for the commands' golden outputs.
public func goldenCompressedFiles() throws(GeneratorError) -> [GoldenFile] {
    let dump = try generateDump(.standard(version: 3, seed: 0)).bytes
    let zstd = zstdUncompressed(dump)
    return [
        GoldenFile(fileName: "vmcore.0.gz", bytes: gzipStored(dump)),
        GoldenFile(fileName: "vmcore.0.zst", bytes: zstd),
        GoldenFile(fileName: "vmcore.0.cut.zst", bytes: Array(zstd.prefix(100_000))),
    ]
}

private func appendLE(_ out: inout [UInt8], _ value: UInt64, bytes: Int) {
    for i in 0..<bytes { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
}

/// CRC-32 (ISO-HDLC, reflected 0xEDB88320), bit by bit.
public func crc32(_ data: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xffff_ffff
    for byte in data {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
    }
    return ~crc
}

/// XXH64 with seed 0 (the zstd content checksum), from its specification.
public func xxh64(_ data: [UInt8]) -> UInt64 {
    let p1: UInt64 = 0x9E37_79B1_85EB_CA87, p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F, p3: UInt64 = 0x1656_67B1_9E37_79F9
    let p4: UInt64 = 0x85EB_CA77_C2B2_AE63, p5: UInt64 = 0x27D4_EB2F_1656_67C5
    func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }
    func word(_ i: Int, _ n: Int) -> UInt64 { (0..<n).reduce(0) { $0 | UInt64(data[i + $1]) << (8 * UInt64($1)) } }
    func round(_ acc: UInt64, _ input: UInt64) -> UInt64 { rotl(acc &+ input &* p2, 31) &* p1 }
    var i = 0
    var h: UInt64
    if data.count >= 32 {
        var v = [p1 &+ p2, p2, 0, 0 &- p1]
        while i + 32 <= data.count {
            for k in 0..<4 { v[k] = round(v[k], word(i + 8 * k, 8)) }
            i += 32
        }
        h = rotl(v[0], 1) &+ rotl(v[1], 7) &+ rotl(v[2], 12) &+ rotl(v[3], 18)
        for k in 0..<4 { h = (h ^ round(0, v[k])) &* p1 &+ p4 }
    } else {
        h = p5
    }
    h &+= UInt64(data.count)
    while i + 8 <= data.count {
        h = rotl(h ^ round(0, word(i, 8)), 27) &* p1 &+ p4
        i += 8
    }
    if i + 4 <= data.count {
        h = rotl(h ^ (word(i, 4) &* p1), 23) &* p2 &+ p3
        i += 4
    }
    while i < data.count {
        h = rotl(h ^ (UInt64(data[i]) &* p5), 11) &* p1
        i += 1
    }
    h ^= h >> 33
    h &*= p2
    h ^= h >> 29
    h &*= p3
    h ^= h >> 32
    return h
}

/// Opening compressed dumps through `DumpFiles`: the metadata prefix and its cost, the cache (where,
/// reuse, identity, holes, nothing beside the dump), truncated and corrupt streams, crafted headers,
/// and `path.zst` for an absent `path`. Streams are made by VMCoreBuilder's own writers (stored
/// gzip, raw/RLE zstd) and, where they are installed, by the real gzip and zstd.
import Foundation
import Testing
import CompressedDump
import Decompress
import MappedBytes
import MinidumpCore
import VMCoreBuilder

/// A fresh directory, removed at the end.
final class Scratch: @unchecked Sendable {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdump-compressed-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    var cache: DumpCache { DumpCache(directory: path + "/cache") }
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }
    func files(_ directory: String = "") -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path + directory)) ?? []).sorted()
    }
}

/// The standard v3 dump with `extra` more direct-map-only pages: the same metadata, more data.
func dump(extraPages extra: Int = 0) throws -> GeneratedDump {
    var description = DumpDescription.standard(version: 3, seed: 0)
    description.directMapOnlyPages += extra
    return try generateDump(description)
}

/// `bytes` compressed by a system tool, or nil if it is not installed (said loudly).
func systemCompressed(_ tool: String, _ arguments: [String], _ bytes: [UInt8], in scratch: Scratch) throws -> [UInt8]? {
    guard FileManager.default.isExecutableFile(atPath: tool) else {
        print("*** \(tool) is missing: streams made by the real tool are NOT tested ***")
        return nil
    }
    let input = try scratch.write("tool-input", bytes)
    let output = scratch.path + "/tool-output"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments + ["-c", input]
    FileManager.default.createFile(atPath: output, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
    defer { try? FileManager.default.removeItem(atPath: input); try? FileManager.default.removeItem(atPath: output) }
    return Array(try Data(contentsOf: URL(fileURLWithPath: output)))
}

@Suite("Compressed dumps through DumpFiles")
struct CompressedDumpTests {
    @Test("header decodes only the metadata prefix, whatever the size of the dump", arguments: [".gz", ".zst"])
    func prefixCostIsConstant(_ suffix: String) throws {
        let scratch = try Scratch()
        var decoded: [UInt64] = []
        var dataOffsets: [UInt64] = []
        for extra in [0, 1200] {  // + 4.7 MiB of data pages (about 18 times the dump)
            let made = try dump(extraPages: extra)
            let bytes = suffix == ".gz" ? gzipStored(made.bytes) : zstdUncompressed(made.bytes)
            let path = try scratch.write("vmcore.\(extra)\(suffix)", bytes)
            let opened = try DumpFiles.outline(path, cache: scratch.cache)
            let decompression = try #require(opened.decompression)
            #expect(decompression.cachePath == nil && !decompression.reusedCache)
            #expect(opened.outline.fileSize == UInt64(made.bytes.count))
            #expect(opened.outline.isTruncated == false)
            #expect(opened.outline.dumpedPageCount == UInt64(made.truth.dumpedPages.count))
            decoded.append(decompression.decodedBytes)
            dataOffsets.append(made.truth.dataOffset)
            // msgbuf's open reads through the data offset.
            let msgbuf = try DumpFiles.open(path, access: .metadata, cache: scratch.cache)
            #expect(msgbuf.decompression?.decodedBytes == made.truth.dataOffset)
            #expect(msgbuf.dump.messageBuffer().text == (try Dump(contents: made.bytes, name: "plain")).messageBuffer().text)
        }
        #expect(dataOffsets[0] == dataOffsets[1])
        #expect(decoded[0] == decoded[1], "decoded \(decoded) bytes for dumps of different sizes")
        // The outline needs the sections through the bitmap, not the page-table map or the data.
        let truth = try dump().truth
        #expect(decoded[0] == truth.bitmapOffset + UInt64(truth.bitmapSize), "\(decoded[0])")
        #expect(scratch.files("/cache").isEmpty, "the metadata commands made a cache entry: \(scratch.files("/cache"))")
    }

    @Test("zstd: one pass into a sparse cache file, reused by the next open; nothing beside the dump")
    func zstdCacheIsMadeOnceAndReused() throws {
        let scratch = try Scratch()
        let made = try dump(extraPages: 256)
        let path = try scratch.write("vmcore.3.zst", zstdUncompressed(made.bytes))
        let first = try DumpFiles.open(path, cache: scratch.cache)
        let firstInfo = try #require(first.decompression)
        #expect(firstInfo.decodedBytes == UInt64(made.bytes.count))
        #expect(!firstInfo.reusedCache && firstInfo.stopped == nil)
        let entry = try #require(firstInfo.cachePath)
        #expect(entry.hasPrefix(scratch.path + "/cache/vmcore-") && entry.hasSuffix(".dump"))
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: entry))) == made.bytes)
        #expect(first.dump.fileBytes.bytes(at: 0, length: UInt64(made.bytes.count)) == made.bytes)
        #expect(first.dump.path == path && first.dump.findings.isEmpty && !first.dump.isTruncated)

        let second = try DumpFiles.open(path, cache: scratch.cache)
        #expect(second.decompression?.reusedCache == true && second.decompression?.decodedBytes == 0)
        #expect(second.decompression?.cachePath == entry)
        #expect(scratch.files() == ["cache", "vmcore.3.zst"], "files beside the dump: \(scratch.files())")
        #expect(scratch.files("/cache").count == 2 && !scratch.files("/cache").contains { $0.contains(".tmp.") })

        // The outline reads the existing entry rather than decoding.
        let outline = try DumpFiles.outline(path, cache: scratch.cache)
        #expect(outline.decompression?.reusedCache == true && outline.decompression?.decodedBytes == 0)

        // Zero pages are holes in the entry.
        let holes = try #require(FileHoles(path: entry, size: UInt64(made.bytes.count)))
        let zeroPage = try #require((0..<(made.bytes.count / 4096)).first { page in
            made.bytes[(page * 4096)..<((page + 1) * 4096)].allSatisfy { $0 == 0 }
        })
        #expect(holes.holeStart(from: 0) <= UInt64(zeroPage * 4096), "no hole at or before zero page \(zeroPage)")

        // A rewritten file (new identity) gets a new entry.
        let other = try dump(extraPages: 8).bytes
        try Data(zstdUncompressed(other)).write(to: URL(fileURLWithPath: path))
        let third = try DumpFiles.open(path, cache: scratch.cache)
        #expect(third.decompression?.reusedCache == false && third.dump.fileSize == UInt64(other.count))
        #expect(scratch.files("/cache").count == 4)
    }

    @Test("gzip: one pass makes a checkpoint index; a read decodes at most one interval")
    func gzipCheckpoints() throws {
        let scratch = try Scratch()
        let made = try dump(extraPages: 1200)  // about 5 MiB: two intervals of 4 MiB
        let size = UInt64(made.bytes.count)
        let interval = OpenedDumpFile.onDemandInterval
        #expect(size > interval && size < 2 * interval)
        let path = try scratch.write("vmcore.3.gz", gzipStored(made.bytes))
        let first = try DumpFiles.open(path, cache: scratch.cache)
        let info = try #require(first.decompression)
        #expect(info.decodedBytes == size && !info.reusedCache && info.stopped == nil)
        #expect(try #require(info.cachePath).hasSuffix(".gzpoints"))
        #expect(scratch.files("/cache").map { $0.split(separator: ".").last! }.sorted() == ["gzpoints", "gzstatus", "gzwindows"])
        #expect(scratch.files() == ["cache", "vmcore.3.gz"])
        let dump = first.dump
        #expect(dump.fileSize == size && dump.findings.isEmpty && !dump.isTruncated)
        // Opening decoded the interval holding the metadata (and the page tables it walked).
        let afterOpen = first.bytesDecodedOnDemand
        #expect(afterOpen > 0 && afterOpen <= 2 * interval)

        // A fresh open from the index: one physical page in the last interval costs that interval only.
        let second = try DumpFiles.open(path, cache: scratch.cache)
        #expect(second.decompression?.reusedCache == true && second.decompression?.decodedBytes == 0)
        let opened = second.bytesDecodedOnDemand
        // Opening decodes the first interval (the metadata), not the intervals of the page-table pages it locates.
        #expect(opened <= interval + (1 << 17), "opening decoded \(opened) bytes")
        let truth = made.truth
        let lastPage = try #require(truth.dumpedPages.last)
        let read = second.dump.readPhysical(PhysicalAddress(lastPage), count: 4096)
        #expect(read.error == nil)
        let offset = Int(truth.dataOffset) + (truth.dumpedPages.count - 1) * 4096
        #expect(read.bytes == Array(made.bytes[offset..<(offset + 4096)]))
        let cost = second.bytesDecodedOnDemand - opened
        #expect(cost <= interval, "one page read decoded \(cost) bytes")
        // Again: already decoded, nothing more.
        _ = second.dump.readPhysical(PhysicalAddress(lastPage), count: 4096)
        #expect(second.bytesDecodedOnDemand - opened == cost)
        // Everything reads as the dump.
        second.dump.prepareFileBytes(offset: 0, length: size)
        #expect(second.dump.fileBytes.bytes(at: 0, length: size) == made.bytes)
        // Bytes dropped from memory are decoded again when read.
        second.dump.releaseFileBytes(offset: 0, length: size)
        second.dump.prepareFileBytes(offset: 0, length: size)
        #expect(second.dump.fileBytes.bytes(at: 0, length: size) == made.bytes)
    }

    @Test("gzip: opening decodes the metadata's interval, not those of the page-table pages it locates")
    func gzipOpenDecodesOnlyTheMetadata() throws {
        let scratch = try Scratch()
        let made = try dump(extraPages: 1200)
        let interval: UInt64 = 128 << 10
        let cache = DumpCache(directory: scratch.path + "/cache", gzipInterval: interval)
        let path = try scratch.write("vmcore.3.gz", gzipStored(made.bytes))
        _ = try DumpFiles.open(path, cache: cache)
        let opened = try DumpFiles.open(path, cache: cache)
        #expect(opened.decompression?.reusedCache == true)
        #expect(made.truth.dataOffset < interval)
        // The first checkpoint is at the first stored-block boundary after 128 KiB: 192 KiB in.
        #expect(opened.bytesDecodedOnDemand <= interval + 65535, "opening decoded \(opened.bytesDecodedOnDemand) bytes")
        // A translation then decodes what it walks: the page-table page and nothing else of the data.
        let va = try #require(made.truth.kernelPages.first { $0.size == 4096 && $0.present }).va
        let before = opened.bytesDecodedOnDemand
        #expect(opened.dump.read(VirtualAddress(va), count: 8).error == nil)
        #expect(opened.bytesDecodedOnDemand - before <= 2 * (interval + 65535))
    }

    @Test("stats and info (metadata access) decode the same prefix whatever the size of the dump, and cache nothing",
          arguments: [".gz", ".zst"])
    func metadataStatisticsCostIsConstant(_ suffix: String) throws {
        let scratch = try Scratch()
        var decoded: [UInt64] = []
        for extra in [0, 1200] {  // + 4.7 MiB of data pages
            let made = try dump(extraPages: extra)
            let bytes = suffix == ".gz" ? gzipStored(made.bytes) : zstdUncompressed(made.bytes)
            let path = try scratch.write("vmcore.\(extra)\(suffix)", bytes)
            let opened = try DumpFiles.open(path, access: .metadata, cache: scratch.cache)
            let read = try #require(opened.metadataOnly)
            let plain = try Dump(contents: made.bytes, name: path)
            let dataOffset = plain.dataPagesInFile.offset
            #expect(read.prefixBytes == dataOffset)
            decoded.append(try #require(opened.decompression).decodedBytes)
            let stats = opened.dump.statistics()
            let truth = plain.statistics()
            // The metadata figures are the plain dump's.
            #expect(stats.bitmapBits == truth.bitmapBits && stats.dumpedPages == truth.dumpedPages)
            #expect(stats.physicalRanges == truth.physicalRanges && stats.kernelMapBytes == truth.kernelMapBytes)
            #expect(stats.kernelMap.entries == truth.kernelMap.entries && stats.kernelMap.validEntries == truth.kernelMap.validEntries)
            #expect(stats.kernelMap.largePages == truth.kernelMap.largePages)
            #expect(stats.expectedFileSize == truth.expectedFileSize && stats.indexBins == truth.indexBins)
            #expect(stats.findings == truth.findings)
            if suffix == ".gz" {
                // ISIZE agrees with the expected size: the size-dependent figures are known too.
                #expect(read.sizeUnknown == nil)
                #expect(stats.fileSize == UInt64(made.bytes.count) && stats.pagesInFile == truth.pagesInFile)
                #expect(stats.kernelMap.pageTablePagesPresent == truth.kernelMap.pageTablePagesPresent)
            } else {
                #expect(read.sizeUnknown == "the zstd frame states no content size")
            }
            // amd64's 4 KiB pages come from page-table pages among the data pages: asked for, not decoded.
            #expect(read.readPastPrefix)
            #expect(scratch.files("/cache").isEmpty, "\(scratch.files("/cache"))")
        }
        #expect(decoded[0] == decoded[1], "\(decoded)")
    }

    @Test("a data region corrupt or cut past the metadata still gives the metadata statistics",
          arguments: [(".gz", true), (".gz", false), (".zst", true), (".zst", false)])
    func metadataStatisticsIgnoreDamagedData(_ suffix: String, _ cut: Bool) throws {
        let scratch = try Scratch()
        let made = try dump(extraPages: 1200)
        var bytes = suffix == ".gz" ? gzipStored(made.bytes) : zstdUncompressed(made.bytes)
        let plain = try Dump(contents: made.bytes, name: "plain")
        let dataOffset = Int(plain.dataPagesInFile.offset)
        if cut {
            bytes = Array(bytes.prefix(bytes.count / 3))
        } else {
            // Every byte from 64 KiB past the metadata to 64 bytes before the end: the whole data region's stream.
            for i in (dataOffset + 65536)..<(bytes.count - 64) { bytes[i] = 0xa5 }
        }
        let path = try scratch.write("vmcore.7\(suffix)", bytes)
        // The whole stream is damaged: decoding it stops early.
        let whole = try DumpFiles.open(path, access: .pages, cache: DumpCache(directory: scratch.path + "/other"))
        #expect(whole.decompression?.stopped != nil)
        let opened = try DumpFiles.open(path, access: .metadata, cache: scratch.cache)
        let read = try #require(opened.metadataOnly)
        #expect(try #require(opened.decompression).decodedBytes == UInt64(dataOffset))
        let stats = opened.dump.statistics()
        let truth = plain.statistics()
        #expect(stats.bitmapBits == truth.bitmapBits && stats.dumpedPages == truth.dumpedPages)
        #expect(stats.kernelMap.validEntries == truth.kernelMap.validEntries && stats.kernelMap.largePages == truth.kernelMap.largePages)
        #expect(stats.findings == truth.findings)
        if suffix == ".gz" && cut {
            #expect(read.sizeUnknown?.hasPrefix("the gzip trailer's ISIZE 0x") == true, "\(read.sizeUnknown ?? "nil")")
        } else if suffix == ".gz" {
            // The trailer survived: its ISIZE is believed (the CRC-32 is checked only by a whole decode).
            #expect(read.sizeUnknown == nil && stats.fileSize == UInt64(made.bytes.count))
        }
    }

    @Test("an ELF full dump opens compressed: stored gzip, raw zstd, gzip -6, zstd -6",
          arguments: ["stored.gz", "raw.zst", "gzip6.gz", "zstd6.zst"])
    func fullDump(_ kind: String) throws {
        let scratch = try Scratch()
        let made = try generateFullDump(FullDumpDescription())
        let bytes: [UInt8]
        switch kind {
        case "stored.gz": bytes = gzipStored(made.bytes)
        case "raw.zst": bytes = zstdUncompressed(made.bytes)
        case "gzip6.gz":
            guard let tool = try systemCompressed("/usr/bin/gzip", ["-6"], made.bytes, in: scratch) else {
                Issue.record("/usr/bin/gzip is missing: a gzip -6 full dump is NOT tested")
                return
            }
            bytes = tool
        default:
            guard let tool = try systemCompressed("/usr/bin/zstd", ["-6", "-q"], made.bytes, in: scratch) else {
                Issue.record("/usr/bin/zstd is missing: a zstd -6 full dump is NOT tested")
                return
            }
            bytes = tool
        }
        let path = try scratch.write("vmcore.full." + kind, bytes)
        let outline = try DumpFiles.outline(path, cache: scratch.cache)
        #expect(outline.outline.fileSize == UInt64(made.bytes.count))
        #expect(outline.outline.header.architecture == "amd64")
        for access in [DumpAccess.metadata, .pages] {
            let opened = try DumpFiles.open(path, access: access, cache: scratch.cache)
            #expect(opened.metadataOnly == nil && opened.decompression?.stopped == nil)
            #expect(opened.dump.fileSize == UInt64(made.bytes.count))
            // A decompressed copy (not the gzip checkpoint view, which the segment container cannot read).
            #expect(opened.decompression?.cachePath?.hasSuffix(".gzpoints") == false)
            let t = made.truth
            for pa: UInt64 in [0, 0x1234, 0x9e_ff0, 0x10_0000, 0x1ff_fff0, t.pml4PhysicalAddress] {
                #expect(opened.dump.readPhysical(PhysicalAddress(pa), count: 16).bytes == t.physicalBytes(pa, length: 16))
            }
            let tables = try opened.dump.withKernelTables(kernbase: t.kernbase, kpml4physAddress: t.kpml4physAddress)
            let va = t.kernelVirtualBase + 0x1234
            #expect(tables.read(VirtualAddress(va), count: 32).bytes == t.physicalBytes(t.kernelPhysicalBase + 0x1234, length: 32))
        }
    }

    @Test("a stream cut short is read as a truncated dump, the fault named with its compressed offset", arguments: [".gz", ".zst"])
    func truncatedStream(_ suffix: String) throws {
        let scratch = try Scratch()
        let made = try dump()
        let whole = suffix == ".gz" ? gzipStored(made.bytes) : zstdUncompressed(made.bytes)
        let cut = whole.count / 2
        let path = try scratch.write("vmcore.4\(suffix)", Array(whole.prefix(cut)))
        let opened = try DumpFiles.open(path, cache: scratch.cache)
        let info = try #require(opened.decompression)
        let stopped = try #require(info.stopped)
        #expect(stopped.contains("(compressed offset "), "\(stopped)")
        #expect(stopped.hasPrefix(suffix == ".gz" ? "gzip: " : "zstd: "))
        let dump = opened.dump
        #expect(dump.isTruncated)
        let decodedCount = Int(dump.fileSize)
        #expect(decodedCount > cut - 8192 && decodedCount < made.bytes.count)
        dump.prepareFileBytes(offset: 0, length: UInt64(decodedCount))
        #expect(dump.fileBytes.bytes(at: 0, length: UInt64(decodedCount)) == Array(made.bytes.prefix(decodedCount)))
        guard case .compressedStreamStopped(let reason, let bytes)? = dump.findings.first else {
            Issue.record("findings: \(dump.findings)")
            return
        }
        #expect(reason == stopped && bytes == UInt64(decodedCount))
        #expect(dump.statistics().findings.contains { if case .truncated = $0 { true } else { false } })
        // The next open reuses the partial entry and still reports the stop.
        let again = try DumpFiles.open(path, cache: scratch.cache)
        #expect(again.decompression?.reusedCache == true && again.decompression?.stopped == stopped)
    }

    @Test("a stream cut inside the metadata fails naming the compressed offset")
    func streamCutInMetadata() throws {
        let scratch = try Scratch()
        let whole = zstdUncompressed(try dump().bytes)
        let path = try scratch.write("vmcore.5.zst", Array(whole.prefix(6000)))
        #expect { try DumpFiles.outline(path, cache: scratch.cache) } throws: { error in
            let text = "\(error)"
            return text.hasPrefix(path + ": zstd: ") && text.contains("(compressed offset ")
        }
    }

    @Test("checksums: a changed byte fails CRC-32 (gzip) or XXH64 (zstd)", arguments: [".gz", ".zst"])
    func checksums(_ suffix: String) throws {
        let scratch = try Scratch()
        let made = try dump()
        var bytes = suffix == ".gz" ? gzipStored(made.bytes) : zstdUncompressed(made.bytes)
        // A byte inside a stored / raw block near the end: the stream stays well formed.
        bytes[bytes.count - 2000] ^= 0x40
        let path = try scratch.write("vmcore.6\(suffix)", bytes)
        let opened = try DumpFiles.open(path, cache: scratch.cache)
        let stopped = try #require(opened.decompression?.stopped)
        #expect(stopped.contains(suffix == ".gz" ? "CRC-32" : "XXH64") || stopped.lowercased().contains("checksum"), "\(stopped)")
    }

    @Test("a crafted zstd window above the limit is refused before any allocation")
    func windowTooLarge() throws {
        let scratch = try Scratch()
        // Frame header: checksum flag, Window_Descriptor exponent 31 - 10 (2 GiB), then a raw block.
        var bytes: [UInt8] = [0x28, 0xb5, 0x2f, 0xfd, 0x04, (31 - 10) << 3]
        bytes += [0x21, 0x80, 0x00] + [UInt8](repeating: 0x41, count: 4096)
        let path = try scratch.write("vmcore.7.zst", bytes)
        #expect { try DumpFiles.outline(path, cache: scratch.cache) } throws: { error in
            "\(error)".contains("window")
        }
    }

    @Test("an absent vmcore.last is found as vmcore.last.zst, then .gz")
    func resolvesSuffixes() throws {
        let scratch = try Scratch()
        let bytes = try dump().bytes
        let base = scratch.path + "/vmcore.last"
        #expect(DumpFiles.resolve(base) == base)
        _ = try scratch.write("vmcore.last.gz", gzipStored(bytes))
        #expect(DumpFiles.resolve(base) == base + ".gz")
        _ = try scratch.write("vmcore.last.zst", zstdUncompressed(bytes))
        #expect(DumpFiles.resolve(base) == base + ".zst")
        let opened = try DumpFiles.outline(base, cache: scratch.cache)
        #expect(opened.outline.path == base + ".zst" && opened.decompression?.format == .zstd)
        _ = try scratch.write("vmcore.last", bytes)
        #expect(DumpFiles.resolve(base) == base)
        #expect(try DumpFiles.open(base, cache: scratch.cache).decompression == nil)
    }

    @Test("by magic, not by name: a gzip file called vmcore.8, a plain dump called vmcore.9.zst")
    func byMagic() throws {
        let scratch = try Scratch()
        let bytes = try dump().bytes
        let gz = try scratch.write("vmcore.8", gzipStored(bytes))
        #expect(try DumpFiles.open(gz, cache: scratch.cache).decompression?.format == .gzip)
        let plain = try scratch.write("vmcore.9.zst", bytes)
        #expect(try DumpFiles.open(plain, cache: scratch.cache).decompression == nil)
    }

    @Test("the real tools' streams decode to the dump (gzip -6, zstd -6, --long, -T0)")
    func realTools() throws {
        let scratch = try Scratch()
        let made = try dump(extraPages: 1024)
        for (tool, arguments) in [("/usr/bin/gzip", ["-6"]), ("/usr/bin/zstd", ["-6", "-q"]),
                                  ("/usr/bin/zstd", ["-6", "-q", "--long"]), ("/usr/bin/zstd", ["-6", "-q", "-T0"])] {
            guard let compressed = try systemCompressed(tool, arguments, made.bytes, in: scratch) else {
                Issue.record("\(tool) is missing")
                continue
            }
            let path = try scratch.write("vmcore.\(arguments.joined())", compressed)
            let opened = try DumpFiles.open(path, cache: scratch.cache)
            #expect(opened.decompression?.stopped == nil, "\(tool) \(arguments)")
            opened.dump.prepareFileBytes(offset: 0, length: UInt64(made.bytes.count))
            #expect(opened.dump.fileBytes.bytes(at: 0, length: UInt64(made.bytes.count)) == made.bytes, "\(tool) \(arguments)")
        }
    }

    @Test("the writers' checksums agree with Decompress's")
    func checksumModels() {
        let data = dumpLikePages(count: 3, seed: 7) + Array("tail".utf8)
        var crc = CRC32()
        crc.update(data)
        #expect(VMCoreBuilder.crc32(data) == crc.value)
        var hash = XXH64()
        hash.update(data)
        #expect(VMCoreBuilder.xxh64(data) == hash.digest)
        #expect(VMCoreBuilder.xxh64([]) == 0xEF46_DB37_51D8_E999)
    }
}

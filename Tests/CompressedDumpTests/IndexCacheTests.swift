/// The index cache (`IndexCache`): a plain dump's page index written by the first command that reads
/// pages and read back, checked, by the next; damaged, stale and foreign entries are not believed.
import Foundation
import Testing
import CompressedDump
import MappedBytes
import MinidumpCore
import VMCoreBuilder

/// A v3 dump of a machine with RAM up to 320 GiB (a 9.75 MiB bitmap, above
/// `IndexCache.minimumBitmapBytes`) but few dumped pages, written sparse to `path`.
func writeLargeBitmapDump(to path: String, seed: UInt64 = 5) throws -> GroundTruth {
    var description = DumpDescription.standard(version: 3, seed: seed)
    description.physicalRanges.append(0x2_0000_0000..<0x50_0000_0000)
    description.directMapOnlyPages = 64
    return try writeDump(description, to: path)
}

/// Every dumped page's file offset through `dump`, against the ground truth (data page k at dataOffset + k × 4096).
func offsetsAgree(_ dump: Dump, _ truth: GroundTruth) -> Bool {
    truth.dumpedPages.enumerated().allSatisfy { k, pa in
        dump.fileOffset(ofPhysical: PhysicalAddress(pa))?.rawValue == truth.dataOffset + UInt64(k) * 4096
    }
}

@Suite("The page index cache")
struct IndexCacheTests {
    @Test func theFirstOpenWritesTheIndexAndTheNextReadsItBack() throws {
        let scratch = try Scratch()
        let path = scratch.path + "/vmcore.0"
        let truth = try writeLargeBitmapDump(to: path)
        let first = try DumpFiles.open(path, cache: nil, indexCache: scratch.cache)
        guard case .written(let entry) = first.indexCache else { Issue.record("first open: \(String(describing: first.indexCache))"); return }
        #expect(entry.hasPrefix(scratch.cache.directory + "/vmcore-") && entry.hasSuffix(".bins"))
        #expect(first.dump.pageIndexBitmapBytes >= IndexCache.minimumBitmapBytes)
        let size = try #require(FileIdentity(path: entry)).size
        #expect(size == 48 + UInt64(first.dump.pageIndexWordCount) * 8)
        #expect(first.dump.pageIndexIsBuilt)
        #expect(offsetsAgree(first.dump, truth))
        let second = try DumpFiles.open(path, cache: nil, indexCache: scratch.cache)
        #expect(second.indexCache == .reused(path: entry))
        #expect(second.dump.pageIndexIsBuilt)
        #expect(second.dump.dumpedPageCount == UInt64(truth.dumpedPages.count))
        #expect(offsetsAgree(second.dump, truth))
        // Nothing beside the dump, one entry in the cache.
        #expect(scratch.files() == ["cache", "vmcore.0"])
        #expect(scratch.files("/cache") == [String(entry.split(separator: "/").last!)])
    }

    @Test func aDamagedOrCutEntryIsRebuiltAndNeverBelieved() throws {
        let scratch = try Scratch()
        let path = scratch.path + "/vmcore.0"
        let truth = try writeLargeBitmapDump(to: path)
        guard case .written(let entry) = try DumpFiles.open(path, cache: nil, indexCache: scratch.cache).indexCache else {
            Issue.record("no entry written"); return
        }
        let good = Array(try Data(contentsOf: URL(fileURLWithPath: entry)))
        var damaged = good
        damaged[48 + 17 * 8 * 3] ^= 0x01  // a count of the fourth block
        var header = good
        header[20] ^= 0x01                // the word count
        for (name, bytes) in [("a flipped count", damaged), ("a changed header", header), ("a cut entry", Array(good.dropLast(8))),
                              ("an empty entry", [])] {
            try Data(bytes).write(to: URL(fileURLWithPath: entry))
            let opened = try DumpFiles.open(path, cache: nil, indexCache: scratch.cache)
            #expect(opened.indexCache == .written(path: entry), "\(name)")
            #expect(offsetsAgree(opened.dump, truth), "\(name)")
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: entry))) == good, "\(name): rewritten whole")
        }
    }

    @Test func anotherDumpUnderTheSameNameGetsItsOwnEntry() throws {
        let scratch = try Scratch()
        let path = scratch.path + "/vmcore.0"
        _ = try writeLargeBitmapDump(to: path, seed: 5)
        guard case .written(let old) = try DumpFiles.open(path, cache: nil, indexCache: scratch.cache).indexCache else {
            Issue.record("no entry written"); return
        }
        // Replaced by savecore with another dump of the same machine (a new file: new inode and time).
        let other = scratch.path + "/vmcore.new"
        let truth = try writeLargeBitmapDump(to: other, seed: 9)
        #expect(rename(other, path) == 0)
        let opened = try DumpFiles.open(path, cache: nil, indexCache: scratch.cache)
        guard case .written(let new) = opened.indexCache else { Issue.record("\(String(describing: opened.indexCache))"); return }
        #expect(new != old)
        #expect(offsetsAgree(opened.dump, truth))
    }

    @Test func smallBitmapsMetadataCommandsAndNoCacheLeaveNoEntry() throws {
        let scratch = try Scratch()
        let large = scratch.path + "/vmcore.0"
        _ = try writeLargeBitmapDump(to: large)
        #expect(try DumpFiles.open(large, access: .metadata, cache: nil, indexCache: scratch.cache).indexCache == nil)
        #expect(try DumpFiles.open(large, cache: nil, indexCache: nil).indexCache == nil)
        let small = try scratch.write("vmcore.1", try dump().bytes)
        #expect(try DumpFiles.open(small, cache: nil, indexCache: scratch.cache).indexCache == nil)
        #expect(!scratch.files().contains("cache"))
    }

    @Test func anUnwritableCacheIsReportedAndTheDumpStillReads() throws {
        let scratch = try Scratch()
        let path = scratch.path + "/vmcore.0"
        let truth = try writeLargeBitmapDump(to: path)
        let blocker = try scratch.write("not-a-directory", [1])
        let opened = try DumpFiles.open(path, cache: nil, indexCache: DumpCache(directory: blocker + "/cache"))
        guard case .notWritten(let entry, let reason) = opened.indexCache else {
            Issue.record("\(String(describing: opened.indexCache))"); return
        }
        #expect(entry.hasPrefix(blocker + "/cache/"))
        #expect(reason.contains("cannot create the cache directory \(blocker)/cache"), "\(reason)")
        #expect(!opened.dump.pageIndexIsBuilt, "nothing to write it to: the index is left to be built as lookups need it")
        #expect(offsetsAgree(opened.dump, truth))
    }

    @Test func theIndexOfAnyPlainDumpRoundTripsBelowTheThreshold() throws {
        let scratch = try Scratch()
        let made = try dump(extraPages: 300)
        let path = try scratch.write("vmcore.2", made.bytes)
        let counted = try Dump(path: path)
        #expect(IndexCache.apply(to: counted, path: path, cache: scratch.cache, minimumBitmapBytes: 0).map { if case .written = $0 { true } else { false } } == true)
        let reread = try Dump(path: path)
        guard case .reused = IndexCache.apply(to: reread, path: path, cache: scratch.cache, minimumBitmapBytes: 0) else {
            Issue.record("not reused"); return
        }
        #expect(offsetsAgree(reread, made.truth))
        // An in-memory dump has no file identity to key an entry by.
        let memory = try Dump(contents: made.bytes, name: path)
        #expect(IndexCache.apply(to: memory, path: path, cache: scratch.cache, minimumBitmapBytes: 0) == nil)
    }
}

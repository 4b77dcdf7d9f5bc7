/// libFuzzer entry point for the decoders: arbitrary bytes through the gzip, zstd or raw deflate
/// decoder (by magic; anything else as raw deflate), in odd-sized reads. Built with `-D FUZZ_ZSTD`
/// every input goes to the zstd decoder; with `-D FUZZ_GZIP` every input goes to the gzip decoder
/// (gzip magic) or the raw deflate one (anything else): one campaign per decoder, each counting
/// its own executions. Built by
/// `make fuzz-decompress-build` together with `Sources/Decompress/*.swift` as one module (not part
/// of the package, not part of `make test`). A decoder must end with output or a `DecompressError`:
/// any trap, leak of memory beyond the window, or endless loop is a finding.

/// Output per input the harness accepts before it stops reading (keeps runs fast; the decoders'
/// memory is bounded by their window whatever the output).
private let outputBudget = 8 << 20

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecompress(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var out: [UInt8] = []
    let step = 1 + (size > 0 ? Int(bytes[size - 1]) * 37 : 0)
    // Small reads cost a call each: 64 Ki calls at most (an RLE-heavy 1 KB input expands to 18 MB, and
    // 8 Mi one-byte reads took 6 s under ASan on a loaded machine: a libFuzzer timeout, not a hang).
    let outputBudget = min(outputBudget, step << 16)
    do {
        #if FUZZ_ZSTD
        let format: CompressionFormat? = .zstd
        #elseif FUZZ_GZIP
        let format: CompressionFormat? = CompressionFormat.detect(prefix: bytes[...]) == .gzip ? .gzip : nil
        #else
        let format = CompressionFormat.detect(prefix: bytes[...])
        #endif
        switch format {
        case .zstd?:
            var s = ZstdStream(source: ArraySource(bytes), maxWindowSize: 1 << 23)
            while try s.read(into: &out, maxCount: step) > 0 {
                if out.count > outputBudget { break }
                if out.count > 1 << 20 { out.removeAll(keepingCapacity: true) }
            }
        case .gzip?:
            var s = InflateStream(source: ArraySource(bytes), format: .gzip, checkpointInterval: 1 << 12)
            while try s.read(into: &out, maxCount: step) > 0 {
                if out.count > outputBudget { break }
            }
            // Resume from the last checkpoint: must give the same tail.
            if let cp = s.checkpoints.last, s.isAtEnd, out.count <= outputBudget {
                var r = try InflateStream(source: ArraySource(bytes, from: Int(cp.inputByteOffset)), resumingAt: cp)
                let tail = try r.readAll(limit: outputBudget)
                if Array(out[Int(cp.outputOffset)...]) != tail { fatalError("checkpoint resume differs") }
            }
        default:
            var s = InflateStream(source: ArraySource(bytes), format: .deflate)
            while try s.read(into: &out, maxCount: step) > 0 {
                if out.count > outputBudget { break }
                if out.count > 1 << 20 { out.removeAll(keepingCapacity: true) }
            }
        }
    } catch let e as DecompressError {
        if e.offset > UInt64(size) + 64 { fatalError("error offset \(e.offset) beyond the input (\(size) bytes): \(e)") }
    } catch {
        fatalError("unexpected error \(error)")
    }
    return 0
}

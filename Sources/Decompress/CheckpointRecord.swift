/// Checkpoints kept outside the decoder (a gzip index file) and read back.
extension InflateCheckpoint {
    /// A checkpoint from its stored fields (as a previous pass made it).
    public static func restored(inputBitOffset: UInt64, outputOffset: UInt64, window: [UInt8], memberCRC: UInt32,
                                memberOutput: UInt64, format: CompressionFormat = .gzip) -> InflateCheckpoint {
        InflateCheckpoint(inputBitOffset: inputBitOffset, outputOffset: outputOffset, window: window,
                          memberCRC: memberCRC, memberOutput: memberOutput, format: format)
    }
}

import CZlib
import Foundation

/// gzip-compressed files (`.gz`), through zlib.
public enum Gzip {
    /// The file's bytes, decompressed when they start with the gzip magic (1f 8b), as is otherwise.
    /// A truncated or corrupt stream is an error naming the file.
    /// `limit` is told the bytes decompressed so far and returns how many the whole content may
    /// have (a format reads its size from its header), so a small file that inflates to
    /// gigabytes is refused as soon as its header is out.
    public static func contents(of url: URL, limit: (Data) throws -> Int = { _ in 4 << 30 }) throws -> Data {
        let raw: Data
        do { raw = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw CheckpointError.unreadable(file: url.path, reason: error.localizedDescription)
        }
        guard raw.count >= 2, raw[raw.startIndex] == 0x1f, raw[raw.startIndex + 1] == 0x8b else { return raw }
        return try inflate(raw, name: url.path, limit: limit)
    }

    /// Decompresses a whole gzip stream (concatenated members included).
    static func inflate(_ compressed: Data, name: String, limit: (Data) throws -> Int = { _ in 4 << 30 }) throws -> Data {
        var stream = z_stream()
        // 15 + 32: the largest window, and accept a gzip (or zlib) header.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw CheckpointError.unreadable(file: name, reason: "zlib failed to initialise")
        }
        defer { inflateEnd(&stream) }
        var out = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        try compressed.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: UInt8.self).baseAddress)
            stream.avail_in = UInt32(input.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { buf -> Int32 in
                    stream.next_out = buf.baseAddress
                    stream.avail_out = UInt32(buf.count)
                    let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    out.append(buf.baseAddress!, count: buf.count - Int(stream.avail_out))
                    return status
                }
                let allowed = try limit(out)
                guard out.count <= allowed else {
                    throw CheckpointError.malformed(file: name, detail: "decompresses to more than the \(allowed) bytes its header declares")
                }
                if status == Z_STREAM_END {
                    // Another gzip member may follow (`cat a.gz b.gz`).
                    guard stream.avail_in > 0 else { return }
                    guard inflateReset(&stream) == Z_OK else { throw CheckpointError.malformed(file: name, detail: "corrupt gzip data") }
                    continue
                }
                guard status == Z_OK else {
                    throw CheckpointError.malformed(file: name, detail: "corrupt gzip data (zlib status \(status))")
                }
                if stream.avail_in == 0 && stream.avail_out != 0 {
                    throw CheckpointError.truncated(file: name, detail: "the gzip stream ends early")
                }
            }
        }
        return out
    }
}

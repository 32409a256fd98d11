import Foundation
import FoveaTensor

/// The IDX format of MNIST and Fashion-MNIST (`train-images-idx3-ubyte[.gz]`): two zero bytes,
/// a type code, the number of dimensions, each dimension as a big-endian UInt32, then the
/// elements row-major. Only unsigned bytes (type 0x08), the type of every (Fashion-)MNIST file, are read.
public struct IDXArray: Sendable {
    public let shape: [Int]
    public let bytes: [UInt8]

    /// Reads a plain or gzip-compressed IDX file.
    public init(contentsOf url: URL) throws {
        let name = url.path
        // A gzipped file stops inflating once its header says how long it is.
        let data = try Gzip.contents(of: url) { head in
            guard head.count >= 4 else { return 4 << 30 }
            let rank = Int(head[head.startIndex + 3])
            guard head.count >= 4 + 4 * rank else { return 4 << 30 }
            var count = 1
            for d in 0..<rank {
                let at = head.startIndex + 4 + 4 * d
                let (product, overflow) = count.multipliedReportingOverflow(by: head[at..<at + 4].reduce(0) { $0 << 8 | Int($1) })
                guard !overflow, product <= 4 << 30 else {
                    throw CheckpointError.malformed(file: name, detail: "the IDX header declares more than 4 GiB")
                }
                count = product
            }
            return 4 + 4 * rank + count
        }
        guard data.count >= 4 else { throw CheckpointError.truncated(file: name, detail: "no IDX header") }
        let b = [UInt8](data.prefix(4))
        guard b[0] == 0, b[1] == 0 else {
            throw CheckpointError.malformed(file: name, detail: "not an IDX file (magic \(b.map { String(format: "%02x", $0) }.joined()))")
        }
        guard b[2] == 0x08 else {
            throw CheckpointError.unsupported(file: name, detail: String(format: "IDX element type 0x%02x (only unsigned bytes, 0x08)", b[2]))
        }
        let rank = Int(b[3])
        guard rank >= 1, data.count >= 4 + 4 * rank else {
            throw CheckpointError.truncated(file: name, detail: "header declares \(rank) dimensions")
        }
        var shape: [Int] = []
        for d in 0..<rank {
            let at = data.startIndex + 4 + 4 * d
            shape.append(data[at..<at + 4].reduce(0) { $0 << 8 | Int($1) })
        }
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= data.count else {
                throw CheckpointError.truncated(file: name, detail: "shape \(shape) is too large for the file's \(data.count) bytes")
            }
            count = product
        }
        let start = 4 + 4 * rank
        guard data.count - start >= count else {
            throw CheckpointError.truncated(file: name, detail: "shape \(shape) needs \(count) bytes, file has \(data.count - start)")
        }
        self.shape = shape
        self.bytes = [UInt8](data[(data.startIndex + start)..<(data.startIndex + start + count)])
    }
}

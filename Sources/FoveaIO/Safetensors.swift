import Foundation
import FoveaTensor

/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header
/// mapping each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative
/// to the byte buffer after the header) plus an optional `"__metadata__"` string map, then the
/// tensor bytes.
///
/// Reading accepts F32, F16, BF16, F64 and the integer/bool types (converted to Float32) and
/// validates the header: offsets must lie inside the buffer, match each tensor's size, and cover
/// the buffer without overlaps. Writing always stores F32.
public enum Safetensors {
    /// Largest header this reader accepts (the format's reference implementation uses 100 MB).
    static let maxHeaderBytes = 100_000_000

    /// The file's tensors by name.
    public static func load(_ url: URL) throws -> [String: Tensor] {
        try loadStateDict(url).tensors
    }

    /// The file's tensors in data order (the order of their byte ranges), with dtypes and metadata.
    public static func loadStateDict(_ url: URL) throws -> StateDict {
        try withFileBytes(url) { bytes in try parse(bytes) }
    }

    static let dtypes: [String: WeightDType] = [
        "F64": .float64, "F32": .float32, "F16": .float16, "BF16": .bfloat16, "I64": .int64,
        "I32": .int32, "I16": .int16, "I8": .int8, "U8": .uint8, "BOOL": .bool,
    ]

    static func parse(_ bytes: [UInt8]) throws -> StateDict {
        var cursor = ByteCursor(bytes)
        let headerLength = try cursor.length(8, "safetensors header length")
        guard headerLength <= maxHeaderBytes else {
            throw CheckpointError.bad("safetensors header length \(headerLength) is implausibly large")
        }
        let headerRange = try cursor.take(headerLength, "safetensors header")
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[headerRange]))
        } catch {
            throw CheckpointError.bad("safetensors header is not valid JSON")
        }
        guard let header = json as? [String: Any] else { throw CheckpointError.bad("safetensors header is not a JSON object") }
        let base = headerRange.upperBound, bufferSize = bytes.count - base
        var dict = StateDict()
        var entries: [(name: String, dtype: WeightDType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header {
            let shown = oneLine(name, limit: 80)
            if name == "__metadata__" {
                guard let meta = value as? [String: Any] else { throw CheckpointError.bad("safetensors __metadata__ is not an object") }
                for (k, v) in meta {
                    guard let s = v as? String else { throw CheckpointError.bad("safetensors metadata \(oneLine(k, limit: 40)) is not a string") }
                    dict.metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shapeValues = info["shape"] as? [Any], let offsetValues = info["data_offsets"] as? [Any] else {
                throw CheckpointError.bad("safetensors entry \(shown) lacks dtype, shape or data_offsets")
            }
            guard let dtype = dtypes[dtypeName] else {
                throw CheckpointError.unsupported(file: "", detail: "safetensors dtype \(oneLine(dtypeName, limit: 20)) of \(shown)")
            }
            let shape = try shapeValues.map { try integer($0, "shape of \(shown)") }
            let offsets = try offsetValues.map { try integer($0, "data_offsets of \(shown)") }
            guard offsets.count == 2, offsets[0] <= offsets[1] else {
                throw CheckpointError.bad("safetensors entry \(shown) has malformed data_offsets \(offsets)")
            }
            guard offsets[1] <= bufferSize else {
                throw CheckpointError.short("safetensors entry \(shown) ends at byte \(offsets[1]) of a \(bufferSize)-byte buffer")
            }
            guard let count = elementCount(shape), count <= Int.max / 8, count * dtype.size == offsets[1] - offsets[0] else {
                throw CheckpointError.bad("safetensors entry \(shown) has \(offsets[1] - offsets[0]) bytes, "
                                          + "which does not match its shape \(shape) of \(dtypeName)")
            }
            entries.append((name, dtype, shape, offsets[0], offsets[1]))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var covered = 0
        for e in entries {
            guard e.begin == covered else {
                let what = e.begin < covered ? "overlaps the previous tensor" : "leaves a gap before it"
                throw CheckpointError.bad("safetensors entry \(oneLine(e.name, limit: 80)) \(what)")
            }
            covered = e.end
        }
        guard covered == bufferSize else {
            throw CheckpointError.bad("safetensors tensors cover \(covered) of the \(bufferSize) data bytes")
        }
        for e in entries {
            let tensor = try materialize(bytes, base: base + e.begin, numel: (e.end - e.begin) / e.dtype.size, dtype: e.dtype,
                                         offset: 0, shape: e.shape, strides: rowMajorStrides(e.shape))
            dict.append(e.name, tensor, dtype: e.dtype)
        }
        return dict
    }

    /// A non-negative JSON integer (below 2^53).
    private static func integer(_ value: Any, _ what: String) throws -> Int {
        guard let n = value as? NSNumber else { throw CheckpointError.bad("safetensors \(what) is not an integer") }
        let d = n.doubleValue
        guard d >= 0, d <= 9_007_199_254_740_992, d == d.rounded() else {
            throw CheckpointError.bad("safetensors \(what) has an invalid value \(n)")
        }
        return Int(d)
    }

    /// Writes `dict` as F32 safetensors, tensors in ``StateDict/keys`` order, with its metadata.
    public static func write(_ dict: StateDict, to url: URL) throws {
        try write(dict.ordered.map { ($0.name, $0.tensor) }, metadata: dict.metadata, to: url)
    }

    /// Writes named tensors (in the given order) as F32 safetensors with optional metadata; with
    /// `halfPrecision`, as F16 (IEEE half, round to nearest even: half the size, ~3 significant digits).
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], halfPrecision: Bool = false, to url: URL) throws {
        let width = halfPrecision ? 2 : 4
        var seen = Set<String>()
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for (name, tensor) in tensors {
            guard name != "__metadata__", seen.insert(name).inserted else {
                throw CheckpointError.unwritable(file: url.path, reason: "duplicate or reserved tensor name \(oneLine(name, limit: 80))")
            }
            let end = offset + tensor.count * width
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonString(name)):{\"dtype\":\"\(halfPrecision ? "F16" : "F32")\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array(("{" + fields.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var data = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: header)
        for (_, tensor) in tensors {
            if halfPrecision {
                var halves = tensor.scalars.map { Float16($0).bitPattern.littleEndian }
                halves.withUnsafeMutableBytes { data.append(contentsOf: $0) }
            } else {
                appendFloats(tensor.buffer, to: &data)
            }
        }
        try writeFile(data, to: url)
    }

    /// `s` as a JSON string literal.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}

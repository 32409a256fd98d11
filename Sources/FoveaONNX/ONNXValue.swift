import Foundation
import FoveaTensor

/// An integer N-d array: the shapes, indices, pads and quantised weights of an ONNX graph.
/// Row-major, like ``Tensor``; a scalar has shape [].
struct IntegerArray: Equatable {
    var shape: [Int]
    var values: [Int64]
    /// The ONNX element type (a QuantizeLinear zero point's type sets the output range).
    var type: ONNXDataType

    init(shape: [Int], values: [Int64], type: ONNXDataType = .int64) {
        precondition(shape.reduce(1, *) == values.count, "IntegerArray: \(values.count) values for shape \(shape)")
        self.shape = shape
        self.values = values
        self.type = type
    }

    init(vector: [Int64]) { self.init(shape: [vector.count], values: vector) }

    var count: Int { values.count }
    var rank: Int { shape.count }
    var ints: [Int] { values.map { Int(clamping: $0) } }

    func reshaped(_ s: [Int]) -> IntegerArray { IntegerArray(shape: s, values: values, type: type) }

    func permuted(_ order: [Int]) -> IntegerArray {
        let outShape = order.map { shape[$0] }
        let inStrides = Tensor.strides(of: shape)
        var out = [Int64](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: rank)
        for linear in 0..<count {
            var source = 0
            for (axis, o) in order.enumerated() { source += index[axis] * inStrides[o] }
            out[linear] = values[source]
            var a = rank - 1
            while a >= 0 { index[a] += 1; if index[a] < outShape[a] { break }; index[a] = 0; a -= 1 }
        }
        return IntegerArray(shape: outShape, values: out, type: type)
    }

    /// Elements `positions` (any order, repeats allowed) along `axis`.
    func gathered(axis: Int, _ positions: [Int]) -> IntegerArray {
        let outer = shape[..<axis].reduce(1, *), n = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        var out: [Int64] = []
        out.reserveCapacity(outer * positions.count * inner)
        for o in 0..<outer {
            for p in positions { out += values[((o * n + p) * inner)..<((o * n + p + 1) * inner)] }
        }
        var s = shape; s[axis] = positions.count
        return IntegerArray(shape: s, values: out, type: type)
    }

    static func concat(_ parts: [IntegerArray], axis: Int) -> IntegerArray {
        let first = parts[0]
        let outer = first.shape[..<axis].reduce(1, *)
        var out: [Int64] = []
        for o in 0..<outer {
            for p in parts {
                let block = p.shape[axis...].reduce(1, *)
                out += p.values[(o * block)..<((o + 1) * block)]
            }
        }
        var s = first.shape; s[axis] = parts.map { $0.shape[axis] }.reduce(0, +)
        return IntegerArray(shape: s, values: out, type: first.type)
    }

    /// NumPy-broadcast elementwise `op`; nil when the shapes do not broadcast.
    static func broadcast(_ a: IntegerArray, _ b: IntegerArray, _ op: (Int64, Int64) -> Int64) -> IntegerArray? {
        guard let shape = broadcastShape(a.shape, b.shape) else { return nil }
        let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
        let n = shape.reduce(1, *)
        var out = [Int64](repeating: 0, count: n)
        var index = [Int](repeating: 0, count: shape.count)
        for linear in 0..<n {
            var ia = 0, ib = 0
            for d in 0..<shape.count { ia += index[d] * sa[d]; ib += index[d] * sb[d] }
            out[linear] = op(a.values[ia], b.values[ib])
            var d = shape.count - 1
            while d >= 0 { index[d] += 1; if index[d] < shape[d] { break }; index[d] = 0; d -= 1 }
        }
        return IntegerArray(shape: shape, values: out)
    }

    func asTensor() -> Tensor { Tensor(shape: shape, values: values.map { Float($0) }) }
}

/// Strides that read `shape` broadcast to `target` (0 along broadcast axes).
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let padded = [Int](repeating: 1, count: target.count - shape.count) + shape
    let strides = Tensor.strides(of: padded)
    return padded.indices.map { padded[$0] == 1 ? 0 : strides[$0] }
}

/// A value flowing through an ONNX graph: floating-point data as a differentiable ``Tensor``
/// (float16/float64 are converted to float32), integer and boolean data as an ``IntegerArray``.
/// Quantised activations (the output of QuantizeLinear) are tensors of whole numbers.
enum ONNXValue {
    case float(Tensor)
    case integer(IntegerArray)

    var shape: [Int] {
        switch self {
        case .float(let t): t.shape
        case .integer(let a): a.shape
        }
    }
}

/// ONNX TensorProto.DataType codes.
enum ONNXDataType: Int32 {
    case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7, string = 8,
         bool = 9, float16 = 10, double = 11, uint32 = 12, uint64 = 13, bfloat16 = 16

    var isFloatingPoint: Bool { self == .float || self == .float16 || self == .double || self == .bfloat16 }

    /// The largest and smallest value a saturating conversion to this integer type keeps.
    var integerRange: ClosedRange<Int64>? {
        switch self {
        case .uint8: 0...255
        case .int8: -128...127
        case .uint16: 0...65535
        case .int16: -32768...32767
        case .int32: Int64(Int32.min)...Int64(Int32.max)
        case .bool: 0...1
        default: nil
        }
    }
}

/// Reads initializer data stored outside the model file (ONNX external data: `location`,
/// `offset`, `length` relative to the model's folder). Files are memory-mapped once.
final class ExternalDataReader {
    let directory: URL?
    private var files: [String: Data] = [:]

    init(directory: URL?) { self.directory = directory }

    func bytes(_ entries: [Onnx_StringStringEntryProto], context: String) throws -> Data {
        var fields: [String: String] = [:]
        for e in entries { fields[e.key] = e.value }
        guard let directory else { throw ONNXError("\(context): the tensor's data is in an external file, but the model was not read from a file") }
        guard let location = fields["location"], !location.isEmpty, !location.hasPrefix("/"),
              !location.split(separator: "/").contains("..") else {
            throw ONNXError("\(context): external data location '\(fields["location"] ?? "")' must be a file name relative to the model's folder")
        }
        let data: Data
        if let cached = files[location] {
            data = cached
        } else {
            let url = directory.appendingPathComponent(location)
            // After symlinks, the file must still be a regular file inside the model's folder.
            let folder = directory.resolvingSymlinksInPath().standardizedFileURL.path
            let resolved = url.resolvingSymlinksInPath().standardizedFileURL.path
            guard resolved.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") else {
                throw ONNXError("\(context): external data file \(url.path) resolves to \(resolved), outside the model's folder \(folder); it is not read")
            }
            var info = stat()
            guard stat(resolved, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
                throw ONNXError("\(context): external data \(url.path) is missing or not a regular file (keep it beside the .onnx file)")
            }
            do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
                throw ONNXError("\(context): cannot read external data file \(url.path) (keep it beside the .onnx file)")
            }
            files[location] = data
        }
        guard let offset = Int(fields["offset"] ?? "0"), offset >= 0, offset <= data.count else {
            throw ONNXError("\(context): external data offset \(fields["offset"] ?? "") is outside \(location) (\(data.count) bytes)")
        }
        let length = Int(fields["length"] ?? "") ?? (data.count - offset)
        guard length >= 0, length <= data.count - offset else {
            throw ONNXError("\(context): external data \(offset)+\(length) runs past the end of \(location) (\(data.count) bytes)")
        }
        return data.subdata(in: (data.startIndex + offset)..<(data.startIndex + offset + length))
    }
}

extension Onnx_TensorProto {
    /// The tensor's data as a value, from raw little-endian bytes (in the file or external) or
    /// the typed repeated fields.
    func value(context: String, external: ExternalDataReader? = nil) throws -> ONNXValue {
        guard dims.allSatisfy({ $0 >= 0 && $0 < 1 << 40 }) else { throw ONNXError("\(context): negative or huge dimension in \(dims)") }
        let shape = dims.map(Int.init)
        let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        guard count < 1 << 31 else { throw ONNXError("\(context): tensor of shape \(shape) is too large") }
        guard let type = ONNXDataType(rawValue: dataType) else {
            throw ONNXError("\(context): unsupported tensor data type \(dataType)")
        }
        let raw: Data?
        if dataLocation == .external || !externalData.isEmpty {
            guard let external else { throw ONNXError("\(context): external tensor data is not supported here") }
            raw = try external.bytes(externalData, context: context)
        } else {
            raw = hasRawData ? rawData : nil
        }
        func rawValues<T>(_: T.Type, width: Int) throws -> [T]? {
            guard let raw else { return nil }
            guard raw.count == count * width else {
                throw ONNXError("\(context): \(raw.count) bytes of data for shape \(shape) of \(type)")
            }
            return raw.withUnsafeBytes { bytes in (0..<count).map { bytes.loadUnaligned(fromByteOffset: $0 * width, as: T.self) } }
        }
        func checked<T>(_ v: [T]) throws -> [T] {
            guard v.count == count else { throw ONNXError("\(context): \(v.count) values for shape \(shape)") }
            return v
        }
        // 8- and 16-bit integers: raw bytes of their width, or widened into int32_data.
        func small<T: FixedWidthInteger>(_: T.Type) throws -> [Int64] {
            try rawValues(T.self, width: MemoryLayout<T>.size)?.map(Int64.init) ?? checked(int32Data.map(Int64.init))
        }
        switch type {
        case .float:
            return .float(Tensor(shape: shape, values: try rawValues(Float.self, width: 4) ?? checked(floatData)))
        case .double:
            let v = try rawValues(Double.self, width: 8) ?? checked(doubleData)
            return .float(Tensor(shape: shape, values: v.map { Float($0) }))
        case .float16:
            let bits = try rawValues(UInt16.self, width: 2) ?? checked(int32Data.map { UInt16(truncatingIfNeeded: $0) })
            return .float(Tensor(shape: shape, values: bits.map { Float(halfBits: $0) }))
        case .bfloat16:
            let bits = try rawValues(UInt16.self, width: 2) ?? checked(int32Data.map { UInt16(truncatingIfNeeded: $0) })
            return .float(Tensor(shape: shape, values: bits.map { Float(bitPattern: UInt32($0) << 16) }))
        case .int64:
            return .integer(IntegerArray(shape: shape, values: try rawValues(Int64.self, width: 8) ?? checked(int64Data), type: type))
        case .int32:
            let v = try rawValues(Int32.self, width: 4)?.map(Int64.init) ?? checked(int32Data.map(Int64.init))
            return .integer(IntegerArray(shape: shape, values: v, type: type))
        case .int8: return .integer(IntegerArray(shape: shape, values: try small(Int8.self), type: type))
        case .uint8, .bool: return .integer(IntegerArray(shape: shape, values: try small(UInt8.self), type: type))
        case .int16: return .integer(IntegerArray(shape: shape, values: try small(Int16.self), type: type))
        case .uint16: return .integer(IntegerArray(shape: shape, values: try small(UInt16.self), type: type))
        case .uint32:
            let v = try rawValues(UInt32.self, width: 4)?.map(Int64.init) ?? checked(uint64Data.map { Int64(truncatingIfNeeded: $0) })
            return .integer(IntegerArray(shape: shape, values: v, type: type))
        case .uint64:
            let v = try rawValues(UInt64.self, width: 8)?.map { Int64(truncatingIfNeeded: $0) } ?? checked(uint64Data.map { Int64(truncatingIfNeeded: $0) })
            return .integer(IntegerArray(shape: shape, values: v, type: type))
        case .string:
            throw ONNXError("\(context): string tensors are not supported")
        }
    }
}

extension Float {
    /// IEEE 754 half precision bits to Float.
    init(halfBits h: UInt16) {
        let sign = UInt32(h >> 15) << 31
        let exponent = Int((h >> 10) & 0x1F), mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            // Zero or subnormal: mantissa * 2^-24.
            let magnitude = Float(mantissa) * 0x1p-24
            self = sign == 0 ? magnitude : -magnitude
        } else if exponent == 31 {
            self = Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        } else {
            self = Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
        }
    }
}

/// A problem with an ONNX file: its message names the file, node or operator.
public struct ONNXError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

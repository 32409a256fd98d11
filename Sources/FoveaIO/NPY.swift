import Foundation
import FoveaTensor

/// Reads and writes NumPy `.npy` arrays (format versions 1.0, 2.0 and 3.0).
///
/// Reading accepts `f8`, `f4`, `f2`, `i8`, `i4`, `i2`, `i1`, `u1` and `b1` in either byte order
/// (converted to Float32, integers exact up to 2^24) and Fortran-ordered arrays, which are
/// transposed into row-major order. Writing produces little-endian `<f4` from a ``Tensor`` or
/// `<i8` / `<i4` from integers (class labels).
public enum NPY {
    /// Integer element types that ``write(_:shape:as:to:)`` can store.
    public enum IntegerType: Sendable {
        case int64, int32
    }

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]   // \x93NUMPY

    /// The array as a Float32 tensor with the array's shape.
    public static func read(_ url: URL) throws -> Tensor {
        try withFileBytes(url) { bytes in
            let a = try parse(bytes)
            return try materialize(bytes, base: a.dataStart, numel: a.count, dtype: a.dtype, bigEndian: a.bigEndian,
                                   offset: 0, shape: a.shape, strides: a.strides)
        }
    }

    /// An integer array's shape and elements (row-major), exactly. Float arrays are refused.
    public static func readIntegers(_ url: URL) throws -> (shape: [Int], values: [Int]) {
        try withFileBytes(url) { bytes in
            let a = try parse(bytes)
            guard [.int64, .int32, .int16, .int8, .uint8, .bool].contains(a.dtype) else {
                throw CheckpointError.bad("array holds \(a.dtype.rawValue), not integers")
            }
            var raw = [Int](repeating: 0, count: a.count)
            bytes.withUnsafeBytes { p in
                for i in 0..<a.count {
                    let at = a.dataStart + i * a.dtype.size
                    func load<T: FixedWidthInteger>(_: T.Type) -> Int {
                        let v = p.loadUnaligned(fromByteOffset: at, as: T.self)
                        return Int(a.bigEndian ? T(bigEndian: v) : T(littleEndian: v))
                    }
                    switch a.dtype {
                    case .int64: raw[i] = load(Int64.self)
                    case .int32: raw[i] = load(Int32.self)
                    case .int16: raw[i] = load(Int16.self)
                    case .int8: raw[i] = load(Int8.self)
                    default: raw[i] = load(UInt8.self)
                    }
                }
            }
            guard a.strides != rowMajorStrides(a.shape) else { return (a.shape, raw) }
            var values = [Int](repeating: 0, count: a.count), index = [Int](repeating: 0, count: a.shape.count)
            for i in 0..<a.count {
                values[i] = raw[zip(index, a.strides).reduce(0) { $0 + $1.0 * $1.1 }]
                var d = a.shape.count - 1
                while d >= 0 { index[d] += 1; if index[d] < a.shape[d] { break }; index[d] = 0; d -= 1 }
            }
            return (a.shape, values)
        }
    }

    /// Writes a Float32 tensor as a `<f4` array with the tensor's shape.
    public static func write(_ tensor: Tensor, to url: URL) throws {
        var data = header(descr: "<f4", shape: tensor.shape)
        appendFloats(tensor.buffer, to: &data)
        try writeFile(data, to: url)
    }

    /// Writes integers (for example class labels) as an `<i8` or `<i4` array; `shape` defaults
    /// to `[values.count]`.
    public static func write(_ values: [Int], shape: [Int]? = nil, as type: IntegerType = .int64, to url: URL) throws {
        let shape = shape ?? [values.count]
        guard elementCount(shape) == values.count else {
            throw CheckpointError.unwritable(file: url.path, reason: "shape \(shape) does not hold \(values.count) values")
        }
        var data = header(descr: type == .int64 ? "<i8" : "<i4", shape: shape)
        switch type {
        case .int64:
            let le = values.map { Int64($0).littleEndian }
            le.withUnsafeBytes { data.append(contentsOf: $0) }
        case .int32:
            guard values.allSatisfy({ Int32(exactly: $0) != nil }) else {
                throw CheckpointError.unwritable(file: url.path, reason: "a value does not fit in int32")
            }
            let le = values.map { Int32($0).littleEndian }
            le.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        try writeFile(data, to: url)
    }

    /// Magic, version and a space-padded header dict ending in a newline, 64-byte aligned.
    static func header(descr: String, shape: [Int]) -> Data {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var text = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dims), }".utf8)
        let v1 = text.count + 11 <= 65535
        let prefix = v1 ? 10 : 12
        while (prefix + text.count + 1) % 64 != 0 { text.append(0x20) }
        text.append(0x0A)
        var data = Data(magic)
        data.append(contentsOf: [v1 ? 1 : 2, 0])
        if v1 {
            withUnsafeBytes(of: UInt16(text.count).littleEndian) { data.append(contentsOf: $0) }
        } else {
            withUnsafeBytes(of: UInt32(text.count).littleEndian) { data.append(contentsOf: $0) }
        }
        data.append(contentsOf: text)
        return data
    }

    // MARK: Parsing

    struct Layout {
        var dtype: WeightDType
        var bigEndian: Bool
        var shape: [Int]
        var strides: [Int]
        var count: Int
        var dataStart: Int
    }

    static func parse(_ bytes: [UInt8]) throws -> Layout {
        var c = ByteCursor(bytes)
        guard bytes.count >= 6 else { throw CheckpointError.short("the file is shorter than the .npy magic") }
        guard Array(bytes[try c.take(6, "magic")]) == magic else { throw CheckpointError.bad("not a .npy file (bad magic)") }
        let major = try c.u8("version"), minor = try c.u8("version")
        guard (1...3).contains(major), minor == 0 else {
            throw CheckpointError.unsupported(file: "", detail: ".npy format version \(major).\(minor)")
        }
        let length = try c.length(major == 1 ? 2 : 4, "header length")
        guard length <= 1 << 20 else { throw CheckpointError.bad(".npy header length \(length) is implausibly large") }
        let text = String(decoding: bytes[try c.take(length, ".npy header")], as: UTF8.self)
        var parser = HeaderParser(text)
        guard case .dict(let fields)? = try? parser.value() else {
            throw CheckpointError.bad(".npy header is not a Python dict literal")
        }
        guard case .string(let descr)? = fields["descr"], case .bool(let fortran)? = fields["fortran_order"],
              case .tuple(let dims)? = fields["shape"] else {
            throw CheckpointError.bad(".npy header lacks descr, fortran_order or shape")
        }
        var shape: [Int] = []
        for d in dims { guard case .int(let n) = d else { throw CheckpointError.bad(".npy shape is not integers") }; shape.append(n) }
        let kinds: [String: WeightDType] = ["f8": .float64, "f4": .float32, "f2": .float16, "i8": .int64, "i4": .int32,
                                            "i2": .int16, "i1": .int8, "u1": .uint8, "b1": .bool]
        let order = descr.first, code = String(descr.dropFirst())
        guard let order, "<>|=".contains(order), let dtype = kinds[code] else {
            throw CheckpointError.unsupported(file: "", detail: ".npy dtype \(oneLine(descr, limit: 40))")
        }
        guard let count = elementCount(shape), count <= (bytes.count - c.pos) / dtype.size else {
            let need = elementCount(shape).map { "\($0 * dtype.size) bytes" } ?? "an impossible size"
            throw CheckpointError.short("shape \(shape) of \(descr) needs \(need), \(bytes.count - c.pos) present")
        }
        var strides = rowMajorStrides(shape)
        if fortran {
            var s = 1
            for i in 0..<shape.count { strides[i] = s; s *= shape[i] }
        }
        return Layout(dtype: dtype, bigEndian: order == ">", shape: shape, strides: strides, count: count, dataStart: c.pos)
    }

    /// Parses the Python literal subset `.npy` headers use: dicts, tuples/lists, strings,
    /// integers, True/False/None.
    struct HeaderParser {
        indirect enum Value { case dict([String: Value]), tuple([Value]), string(String), int(Int), bool(Bool), none }
        enum Failure: Error { case syntax }
        let chars: [Character]
        var i = 0, depth = 0

        init(_ text: String) { chars = Array(text) }

        mutating func skipSpace() { while i < chars.count, chars[i].isWhitespace { i += 1 } }

        mutating func expect(_ c: Character) throws {
            skipSpace()
            guard i < chars.count, chars[i] == c else { throw Failure.syntax }
            i += 1
        }

        mutating func value() throws -> Value {
            skipSpace()
            guard i < chars.count, depth < 16 else { throw Failure.syntax }
            let c = chars[i]
            if c == "{" || c == "(" || c == "[" {
                let close: Character = c == "{" ? "}" : c == "(" ? ")" : "]"
                i += 1; depth += 1; defer { depth -= 1 }
                var dict: [String: Value] = [:], items: [Value] = []
                while true {
                    skipSpace()
                    if i < chars.count, chars[i] == close { i += 1; break }
                    let item = try value()
                    if c == "{" {
                        guard case .string(let key) = item else { throw Failure.syntax }
                        try expect(":")
                        dict[key] = try value()
                    } else { items.append(item) }
                    skipSpace()
                    if i < chars.count, chars[i] == "," { i += 1 } else { try expect(close); break }
                }
                return c == "{" ? .dict(dict) : .tuple(items)
            }
            if c == "'" || c == "\"" {
                i += 1
                let start = i
                while i < chars.count, chars[i] != c { i += 1 }
                guard i < chars.count else { throw Failure.syntax }
                defer { i += 1 }
                return .string(String(chars[start..<i]))
            }
            let start = i
            while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "-" { i += 1 }
            var word = String(chars[start..<i])
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return .none
            default:
                if word.hasSuffix("L") { word.removeLast() }
                guard let n = Int(word) else { throw Failure.syntax }
                return .int(n)
            }
        }
    }
}

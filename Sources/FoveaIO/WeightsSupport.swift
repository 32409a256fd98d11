import Foundation
import FoveaTensor

/// Why a weights or array file (PyTorch checkpoint, safetensors, `.npy`) could not be read.
///
/// ``description`` is always one line that starts with the file name, for example
/// `checkpoint.pth: pickle calls forbidden global os.system`.
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened or read at all.
    case unreadable(file: String, reason: String)
    /// The file ends before a structure it declares.
    case truncated(file: String, detail: String)
    /// The bytes do not form a valid file of the expected kind (bad magic, tampered header, ...).
    case malformed(file: String, detail: String)
    /// A pickle names a Python global outside the allow list (it is never executed).
    case forbiddenGlobal(file: String, name: String)
    /// A valid file that uses a feature this reader does not implement (deflate, big integers, ...).
    case unsupported(file: String, detail: String)
    /// A file could not be written (or the values given cannot be written).
    case unwritable(file: String, reason: String)

    /// The file name (last path component) the error refers to.
    public var file: String {
        switch self {
        case .unreadable(let f, _), .truncated(let f, _), .malformed(let f, _),
             .forbiddenGlobal(let f, _), .unsupported(let f, _), .unwritable(let f, _): return f
        }
    }

    public var description: String {
        let text: String
        switch self {
        case .unreadable(let f, let r): text = "\(f): cannot read file (\(r))"
        case .truncated(let f, let d): text = "\(f): file is truncated (\(d))"
        case .malformed(let f, let d): text = "\(f): \(d)"
        case .forbiddenGlobal(let f, let n): text = "\(f): pickle calls forbidden global \(n)"
        case .unsupported(let f, let d): text = "\(f): unsupported: \(d)"
        case .unwritable(let f, let r): text = "\(f): cannot write file (\(r))"
        }
        return oneLine(text)
    }

    /// The same error attributed to `name`.
    func inFile(_ name: String) -> CheckpointError {
        switch self {
        case .unreadable(_, let r): return .unreadable(file: name, reason: r)
        case .truncated(_, let d): return .truncated(file: name, detail: d)
        case .malformed(_, let d): return .malformed(file: name, detail: d)
        case .forbiddenGlobal(_, let n): return .forbiddenGlobal(file: name, name: n)
        case .unsupported(_, let d): return .unsupported(file: name, detail: d)
        case .unwritable(_, let r): return .unwritable(file: name, reason: r)
        }
    }

    static func bad(_ detail: String) -> CheckpointError { .malformed(file: "", detail: detail) }
    static func short(_ detail: String) -> CheckpointError { .truncated(file: "", detail: detail) }
}

/// Writes `data` to `url`, reporting failures as ``CheckpointError/unwritable(file:reason:)``.
func writeFile(_ data: Data, to url: URL) throws {
    do { try data.write(to: url, options: .atomic) } catch {
        throw CheckpointError.unwritable(file: url.path, reason: error.localizedDescription)
    }
}

/// Appends little-endian Float32 elements to `data`.
func appendFloats(_ values: UnsafeMutableBufferPointer<Float>, to data: inout Data) {
    var le = [UInt32](repeating: 0, count: values.count)
    for i in 0..<values.count { le[i] = values[i].bitPattern.littleEndian }
    le.withUnsafeBytes { data.append(contentsOf: $0) }
}

/// Row-major element strides of `shape`.
func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count), s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) { strides[i] = s; s &*= shape[i] }
    return strides
}

/// The element count of `shape`, or nil when a dimension is negative or the product overflows.
func elementCount(_ shape: [Int]) -> Int? {
    var n = 1
    for d in shape {
        guard d >= 0 else { return nil }
        let (p, o) = n.multipliedReportingOverflow(by: d)
        if o { return nil }
        n = p
    }
    return n
}

/// Untrusted text made safe for a one-line message: control characters replaced, length capped.
func oneLine(_ text: String, limit: Int = 400) -> String {
    var out = String(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : Character($0) })
    if out.count > limit { out = String(out.prefix(limit)) + "..." }
    return out
}

/// Reads a whole file and runs `body` on its bytes; every error leaving `body` names the file.
func withFileBytes<T>(_ url: URL, _ body: ([UInt8]) throws -> T) throws -> T {
    let name = url.path
    let bytes = try readWholeFile(url)
    do {
        return try body(bytes)
    } catch let error as CheckpointError {
        throw error.inFile(name)
    }
}

/// The file's bytes, read straight into the array: through a `Data` (mapped or read) and a copy,
/// the file was resident twice at once (VGG-16: 528 MB each) beside the tensors made from it.
func readWholeFile(_ url: URL) throws -> [UInt8] {
    let name = url.path
    guard let file = fopen(name, "rb") else {
        let reason = errno == ENOENT ? "no such file" : String(cString: strerror(errno))
        throw CheckpointError.unreadable(file: name, reason: reason)
    }
    defer { fclose(file) }
    var info = stat()
    guard fstat(fileno(file), &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
        throw CheckpointError.unreadable(file: name, reason: "not a regular file")
    }
    let size = Int(info.st_size)
    var failed = false
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
        count = size == 0 ? 0 : fread(buffer.baseAddress!, 1, size, file)
        failed = count != size
        if failed { count = 0 }
    }
    if failed { throw CheckpointError.unreadable(file: name, reason: "read failed: \(String(cString: strerror(errno)))") }
    return bytes
}

/// A bounds-checked reading position inside a byte array. Every read that would pass `end`
/// throws ``CheckpointError/truncated(file:detail:)``.
struct ByteCursor {
    let bytes: [UInt8]
    var pos: Int
    let end: Int

    init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.end = min(end ?? bytes.count, bytes.count)
        self.pos = max(0, min(start, self.end))
    }

    var remaining: Int { end - pos }

    /// Claims the next `n` bytes and returns their index range.
    mutating func take(_ n: Int, _ what: @autoclosure () -> String) throws -> Range<Int> {
        guard n >= 0, n <= remaining else {
            throw CheckpointError.short("\(what()) needs \(n) bytes at offset \(pos), \(remaining) left")
        }
        defer { pos += n }
        return pos..<(pos + n)
    }

    mutating func u8(_ what: @autoclosure () -> String) throws -> UInt8 {
        bytes[try take(1, what()).lowerBound]
    }

    /// An unsigned little-endian integer of `size` (1...8) bytes.
    mutating func le(_ size: Int, _ what: @autoclosure () -> String) throws -> UInt64 {
        let r = try take(size, what())
        var v: UInt64 = 0
        for i in r.reversed() { v = v << 8 | UInt64(bytes[i]) }
        return v
    }

    /// A non-negative little-endian length that must fit an `Int`.
    mutating func length(_ size: Int, _ what: @autoclosure () -> String) throws -> Int {
        let v = try le(size, what())
        guard v <= UInt64(Int.max / 2) else { throw CheckpointError.bad("\(what()) is implausibly large (\(v))") }
        return Int(v)
    }

    /// Bytes up to (not including) the next newline, which is consumed.
    mutating func line(_ what: @autoclosure () -> String) throws -> ArraySlice<UInt8> {
        guard let nl = bytes[pos..<end].firstIndex(of: 0x0A) else {
            throw CheckpointError.short("\(what()) has no terminating newline")
        }
        defer { pos = nl + 1 }
        return bytes[pos..<nl]
    }
}

/// Element types that weights files store. Everything is converted to Float32 when loaded.
public enum WeightDType: String, Sendable, CaseIterable {
    case float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, bool

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// Converts `count` elements stored at `bytes[offset...]` to Float. The caller has checked
    /// that `offset + count * size <= bytes.count`.
    func decode(_ bytes: [UInt8], at offset: Int, count: Int, bigEndian: Bool = false,
                into out: UnsafeMutablePointer<Float>) {
        precondition(offset >= 0 && count >= 0 && offset + count * size <= bytes.count)
        bytes.withUnsafeBytes { raw in
            func load<T: FixedWidthInteger>(_ i: Int, _: T.Type) -> T {
                let v = raw.loadUnaligned(fromByteOffset: offset + i * MemoryLayout<T>.size, as: T.self)
                return bigEndian ? T(bigEndian: v) : T(littleEndian: v)
            }
            switch self {
            case .float32: for i in 0..<count { out[i] = Float(bitPattern: load(i, UInt32.self)) }
            case .float64: for i in 0..<count { out[i] = Float(Double(bitPattern: load(i, UInt64.self))) }
            case .float16: for i in 0..<count { out[i] = halfToFloat(load(i, UInt16.self)) }
            case .bfloat16: for i in 0..<count { out[i] = Float(bitPattern: UInt32(load(i, UInt16.self)) << 16) }
            case .int64: for i in 0..<count { out[i] = Float(load(i, Int64.self)) }
            case .int32: for i in 0..<count { out[i] = Float(load(i, Int32.self)) }
            case .int16: for i in 0..<count { out[i] = Float(load(i, Int16.self)) }
            case .int8: for i in 0..<count { out[i] = Float(load(i, Int8.self)) }
            case .uint8: for i in 0..<count { out[i] = Float(load(i, UInt8.self)) }
            case .bool: for i in 0..<count { out[i] = load(i, UInt8.self) != 0 ? 1 : 0 }
            }
        }
    }
}

/// IEEE 754 binary16 to binary32 (exact).
func halfToFloat(_ h: UInt16) -> Float {
    let sign: Float = h & 0x8000 != 0 ? -1 : 1
    let exponent = Int((h >> 10) & 0x1F), mantissa = UInt32(h & 0x3FF)
    if exponent == 0 { return sign * Float(mantissa) * 0x1p-24 }
    let signBit = UInt32(h & 0x8000) << 16
    if exponent == 31 { return Float(bitPattern: signBit | 0x7F80_0000 | mantissa << 13) }
    return Float(bitPattern: signBit | UInt32(exponent + 112) << 23 | mantissa << 13)
}

/// Largest tensor (in elements) that a strided view may expand to beyond its storage size.
let maxExpandedElements = 1 << 26

/// Builds a contiguous Float tensor from a strided view of a stored array.
///
/// The array holds `numel` elements of `dtype` starting at byte `base` of `bytes`; the view
/// starts `offset` elements in with the given `shape` and element `strides` (non-negative).
func materialize(_ bytes: [UInt8], base: Int, numel: Int, dtype: WeightDType, bigEndian: Bool = false,
                 offset: Int, shape: [Int], strides: [Int]) throws -> Tensor {
    guard shape.count == strides.count else {
        throw CheckpointError.bad("tensor has \(shape.count) sizes but \(strides.count) strides")
    }
    guard offset >= 0, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
        throw CheckpointError.bad("tensor has a negative size, stride or offset (\(shape), \(strides), \(offset))")
    }
    guard base >= 0, numel >= 0, numel <= (bytes.count - base) / dtype.size else {
        throw CheckpointError.short("storage of \(numel) \(dtype.rawValue) elements runs past the end of the data")
    }
    var count = 1, last = 0
    for (n, s) in zip(shape, strides) {
        let (c, o1) = count.multipliedReportingOverflow(by: n)
        let (span, o2) = max(n - 1, 0).multipliedReportingOverflow(by: s)
        let (l, o3) = last.addingReportingOverflow(span)
        guard !o1, !o2, !o3 else { throw CheckpointError.bad("tensor shape \(shape) overflows") }
        count = c; last = l
    }
    if count == 0 { return Tensor(shape: shape, values: []) }
    guard offset <= numel, last < numel - offset else {
        throw CheckpointError.bad("tensor view (offset \(offset), shape \(shape), strides \(strides)) "
                                  + "reads past its storage of \(numel) elements")
    }
    guard count <= max(numel, maxExpandedElements) else {
        throw CheckpointError.bad("tensor shape \(shape) expands a \(numel)-element storage too far")
    }
    let start = base + offset * dtype.size
    var expected = 1, contiguous = true
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        if shape[i] != 1 && strides[i] != expected { contiguous = false }
        expected *= shape[i]
    }
    if contiguous {
        return Tensor(shape: shape) { dtype.decode(bytes, at: start, count: count, bigEndian: bigEndian, into: $0.baseAddress!) }
    }
    var source = [Float](repeating: 0, count: last + 1)
    source.withUnsafeMutableBufferPointer {
        dtype.decode(bytes, at: start, count: last + 1, bigEndian: bigEndian, into: $0.baseAddress!)
    }
    return Tensor(shape: shape) { out in
        var index = [Int](repeating: 0, count: shape.count)
        let inner = shape.count - 1, innerSize = shape[inner], innerStride = strides[inner]
        var written = 0, src = 0
        while written < count {
            for j in 0..<innerSize { out[written + j] = source[src + j * innerStride] }
            written += innerSize
            var d = inner - 1
            while d >= 0 {
                index[d] += 1; src += strides[d]
                if index[d] < shape[d] { break }
                src -= strides[d] * shape[d]; index[d] = 0; d -= 1
            }
        }
    }
}

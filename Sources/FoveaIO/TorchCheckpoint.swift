import Foundation
import FoveaTensor

/// Named tensors in file order, as loaded from a PyTorch checkpoint or a safetensors file.
///
/// Every tensor is converted to contiguous Float32; ``dtypes`` records the element type it had in
/// the file (for example `int64` for a BatchNorm `num_batches_tracked`, which is kept, as a Float).
public struct StateDict: Sendable {
    /// Tensor names in file order.
    public private(set) var keys: [String] = []
    /// Tensors by name.
    public private(set) var tensors: [String: Tensor] = [:]
    /// The element type each tensor was stored with.
    public private(set) var dtypes: [String: WeightDType] = [:]
    /// Free-form string metadata (safetensors `__metadata__`; empty for PyTorch checkpoints).
    public var metadata: [String: String] = [:]

    /// An empty state dict.
    public init() {}

    /// Adds (or replaces, keeping its position) the tensor called `name`.
    public mutating func append(_ name: String, _ tensor: Tensor, dtype: WeightDType = .float32) {
        if tensors[name] == nil { keys.append(name) }
        tensors[name] = tensor
        dtypes[name] = dtype
    }

    /// The tensor called `name`, if present.
    public subscript(_ name: String) -> Tensor? { tensors[name] }

    /// Number of tensors.
    public var count: Int { keys.count }

    /// `(name, tensor)` pairs in file order.
    public var ordered: [(name: String, tensor: Tensor)] { keys.map { ($0, tensors[$0]!) } }
}

/// Reads PyTorch `torch.save` checkpoints without Python and without executing pickled code.
///
/// Both formats are supported: the zip format (PyTorch >= 1.6: `<name>/data.pkl` plus
/// `<name>/data/<key>` stored entries) and the legacy format (magic number, protocol version and
/// system-info pickles, the object pickle, the storage-key list pickle, then each storage as an
/// 8-byte little-endian element count followed by its raw elements).
///
/// The object pickle is read by a restricted unpickler that accepts only tensor-rebuilding
/// globals; anything else (`os.system`, a pickled `nn.Module`, ...) fails with
/// ``CheckpointError/forbiddenGlobal(file:name:)``. Tensor views (storage offset, strides) are
/// gathered into contiguous tensors; float16, bfloat16, float64 and integer tensors are converted
/// to Float32 (integer tensors such as `num_batches_tracked` are returned too, exact up to 2^24).
/// A top-level dict holding `"state_dict"`, `"model_state_dict"` or `"model"` (a dict) is unwrapped;
/// non-tensor entries of the state dict are skipped.
public enum TorchCheckpoint {
    /// The checkpoint's tensors by name. Throws ``CheckpointError`` with a one-line description.
    public static func load(_ url: URL) throws -> [String: Tensor] {
        try loadStateDict(url).tensors
    }

    /// The checkpoint's tensors with their names in file order and their stored dtypes.
    public static func loadStateDict(_ url: URL) throws -> StateDict {
        try withFileBytes(url, parse)
    }

    /// Reads a checkpoint held in memory (errors carry an empty file name).
    static func parse(_ bytes: [UInt8]) throws -> StateDict {
        guard !bytes.isEmpty else { throw CheckpointError.short("the file is empty") }
        return ZipArchive.looksLikeZip(bytes) ? try loadZip(bytes) : try loadLegacy(bytes)
    }

    /// Magic number 0x1950a86a20f9469cfc6c as pickled (little-endian bytes).
    static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    // MARK: Zip format

    static func loadZip(_ bytes: [UInt8]) throws -> StateDict {
        let zip = try ZipArchive(bytes)
        guard let pkl = zip.entries.first(where: { isTopLevel($0.name, "data.pkl") }) else {
            let hint = zip.entries.contains { $0.name.hasSuffix("constants.pkl") } ? " (a TorchScript archive?)" : ""
            throw CheckpointError.bad("zip archive has no data.pkl, so it is not a torch.save checkpoint\(hint)")
        }
        let prefix = String(pkl.name.dropLast("data.pkl".count))
        var bigEndian = false
        if let order = zip.entry(prefix + "byteorder") {
            let text = String(decoding: bytes[try zip.contents(of: order)], as: UTF8.self)
            guard text == "little" || text == "big" else { throw CheckpointError.bad("byteorder entry says \(oneLine(text, limit: 20))") }
            bigEndian = text == "big"
        }
        let range = try zip.contents(of: pkl)
        let refs = try Unpickler.load(bytes, from: range.lowerBound, to: range.upperBound,
                                      persistentLoad: { try storage(from: $0, legacy: false) },
                                      stateDictEntries).result
        var dict = StateDict(), cache: [String: Range<Int>] = [:]
        for (name, t) in refs {
            let key = t.storage.key
            if cache[key] == nil {
                guard let entry = zip.entry(prefix + "data/" + key) else {
                    throw CheckpointError.bad("tensor \(oneLine(name, limit: 80)) refers to storage \(oneLine(key, limit: 40)), which the archive lacks")
                }
                cache[key] = try zip.contents(of: entry)
            }
            let data = cache[key]!
            let size = t.storage.untyped ? 1 : t.storage.dtype.size
            guard t.storage.numel <= data.count / size else {
                throw CheckpointError.short("storage data/\(oneLine(key, limit: 40)) holds \(data.count) bytes, "
                                            + "fewer than the \(t.storage.numel) elements the pickle declares")
            }
            let tensor = try materialize(bytes, base: data.lowerBound, numel: t.storage.numel * size / t.dtype.size, dtype: t.dtype,
                                         bigEndian: bigEndian, offset: t.offset, shape: t.shape, strides: t.strides)
            dict.append(name, tensor, dtype: t.dtype)
        }
        return dict
    }

    /// Whether `name` is `<one folder>/<file>`.
    private static func isTopLevel(_ name: String, _ file: String) -> Bool {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 2 && parts[1] == file
    }

    // MARK: Legacy format

    static func loadLegacy(_ bytes: [UInt8]) throws -> StateDict {
        var pos = 0
        do {
            let (magic, end) = try Unpickler.load(bytes) { v -> [UInt8]? in
                if case .bigInt(let b) = v { return b }
                return nil
            }
            guard magic == legacyMagic else { throw CheckpointError.bad("") }
            pos = end
        } catch let error as CheckpointError {
            switch error {
            case .forbiddenGlobal, .truncated: throw error
            default: throw CheckpointError.bad("not a PyTorch checkpoint (neither a zip archive nor the legacy magic number)")
            }
        }
        let (version, afterVersion) = try Unpickler.load(bytes, from: pos) { $0.intValue }
        guard version == 1001 else {
            throw CheckpointError.unsupported(file: "", detail: "legacy checkpoint protocol version \(version.map(String.init) ?? "?") (expected 1001)")
        }
        let (littleEndian, afterInfo) = try Unpickler.load(bytes, from: afterVersion) { info -> Bool in
            guard case .dict(let d) = info else { throw CheckpointError.bad("legacy system-info record is not a dict") }
            if case .bool(let little)? = d["little_endian"] { return little }
            return true
        }
        var declared: [String: WeightDType] = [:]   // root storage key -> element type
        let (refs, afterState) = try Unpickler.load(bytes, from: afterInfo, persistentLoad: { pid in
            let value = try storage(from: pid, legacy: true)
            if case .storage(let s) = value {
                let dtype = s.untyped ? WeightDType.uint8 : s.dtype
                if let d = declared[s.key], d.size != dtype.size {
                    throw CheckpointError.bad("storage \(oneLine(s.key, limit: 40)) is declared with two element sizes")
                }
                declared[s.key] = declared[s.key] ?? dtype
            }
            return value
        }, stateDictEntries)
        let (keys, afterKeys) = try Unpickler.load(bytes, from: afterState) { v -> [String] in
            guard let items = v.items else { throw CheckpointError.bad("legacy storage-key list is a \(v.kind)") }
            return try items.map {
                guard let k = $0.stringValue else { throw CheckpointError.bad("legacy storage key is a \($0.kind)") }
                return k
            }
        }
        var cursor = ByteCursor(bytes, from: afterKeys)
        var location: [String: (base: Int, numel: Int)] = [:]
        for key in keys {
            guard let dtype = declared[key] else {
                throw CheckpointError.bad("legacy storage \(oneLine(key, limit: 40)) is listed but no tensor uses it")
            }
            let numel = try cursor.length(8, "element count of storage \(oneLine(key, limit: 40))")
            guard numel <= cursor.remaining / dtype.size else {
                throw CheckpointError.short("storage \(oneLine(key, limit: 40)) needs \(numel) elements of "
                                            + "\(dtype.size) bytes, \(cursor.remaining) bytes left")
            }
            location[key] = (cursor.pos, numel)
            _ = try cursor.take(numel * dtype.size, "storage \(oneLine(key, limit: 40))")
        }
        var dict = StateDict()
        for (name, t) in refs {
            guard let loc = location[t.storage.key] else {
                throw CheckpointError.bad("tensor \(oneLine(name, limit: 80)) uses storage "
                                          + "\(oneLine(t.storage.key, limit: 40)), which the file does not contain")
            }
            var offset = t.offset, numel = loc.numel
            if t.storage.untyped { numel = loc.numel / t.dtype.size }
            if let view = t.storage.view {
                guard view.offset <= numel, view.count <= numel - view.offset else {
                    throw CheckpointError.bad("storage view of \(oneLine(name, limit: 80)) lies outside its root storage")
                }
                offset += view.offset
                numel = view.offset + view.count
            }
            let tensor = try materialize(bytes, base: loc.base, numel: numel, dtype: t.dtype, bigEndian: !littleEndian,
                                         offset: offset, shape: t.shape, strides: t.strides)
            dict.append(name, tensor, dtype: t.dtype)
        }
        return dict
    }

    // MARK: Shared

    /// Interprets a persistent id `('storage', storage_type, key, location, numel[, view_metadata])`.
    static func storage(from pid: PickleValue, legacy: Bool) throws -> PickleValue {
        guard let items = pid.items, items.count >= 5, items[0].stringValue == "storage" else {
            if let first = pid.items?.first?.stringValue, first == "module" {
                throw CheckpointError.unsupported(file: "", detail: "checkpoint pickles a whole nn.Module, not a state dict")
            }
            throw CheckpointError.bad("pickle has a malformed persistent id (\(pid.kind))")
        }
        guard case .global(.storageType(let dtype, let untyped)) = items[1] else {
            throw CheckpointError.bad("persistent id names storage type \(items[1].kind)")
        }
        let key: String
        switch items[2] {
        case .string(let s): key = s
        case .int(let i): key = String(i)
        default: throw CheckpointError.bad("persistent id has a storage key of type \(items[2].kind)")
        }
        guard let numel = items[4].intValue, numel >= 0 else { throw CheckpointError.bad("persistent id has a bad element count") }
        var ref = StorageRef(key: key, dtype: dtype, numel: numel, untyped: untyped)
        if legacy, items.count >= 6, let view = items[5].items {
            guard view.count == 3, let offset = view[1].intValue, let size = view[2].intValue, offset >= 0, size >= 0 else {
                throw CheckpointError.bad("persistent id has malformed view metadata")
            }
            ref.view = (offset, size)
        }
        return .storage(ref)
    }

    /// The `(name, tensor)` entries of the checkpoint's state dict, unwrapping
    /// `{"state_dict": ...}`-style containers.
    static func stateDictEntries(_ root: PickleValue) throws -> [(String, TensorRef)] {
        guard case .dict(var d) = root else { throw CheckpointError.bad("checkpoint holds a \(root.kind), not a dict of tensors") }
        for key in ["state_dict", "model_state_dict", "model"] {
            if case .dict(let inner)? = d[key] { d = inner; break }
        }
        var out: [(String, TensorRef)] = []
        for (k, v) in d.entries {
            guard case .tensor(let t) = v, let name = k.stringValue else { continue }
            out.append((name, t))
        }
        guard !out.isEmpty else { throw CheckpointError.bad("checkpoint contains no tensors") }
        return out
    }
}

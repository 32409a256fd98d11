import Foundation

/// A value produced by the restricted unpickler (``Unpickler``).
///
/// Containers are reference types so that pickle's in-place mutation of memoised lists and dicts
/// (APPEND, SETITEMS, BUILD) behaves as in Python. They are emptied when unpickling finishes so
/// that deep or cyclic structures from hostile files are released without recursion.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer too wide for `Int`: little-endian two's complement bytes (as LONG1/LONG4 store it).
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(PickleList)
    case list(PickleList)
    case dict(PickleDict)
    /// An allow-listed Python global (class, function or dtype object).
    case global(PickleGlobal)
    /// A storage returned by the persistent-load hook.
    case storage(StorageRef)
    /// A tensor rebuilt (lazily: no bytes read yet) by `_rebuild_tensor_v2` and friends.
    case tensor(TensorRef)

    /// A short name of the value's kind for error messages.
    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global(let g): return g.name
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }

    var intValue: Int? { if case .int(let v) = self { return v }; if case .bool(let b) = self { return b ? 1 : 0 }; return nil }
    var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    /// Items of a tuple or list.
    var items: [PickleValue]? {
        switch self {
        case .tuple(let l), .list(let l): return l.items
        default: return nil
        }
    }
    /// Items of a tuple or list that are all integers.
    var intItems: [Int]? {
        guard let items else { return nil }
        var out: [Int] = []
        for item in items { guard let v = item.intValue else { return nil }; out.append(v) }
        return out
    }
}

/// A Python list, tuple or set (items only; tuples are never mutated after creation).
final class PickleList {
    var items: [PickleValue]
    init(_ items: [PickleValue] = []) { self.items = items }
}

/// A Python dict that keeps insertion order. String and integer keys replace earlier entries
/// with the same key; other keys are appended.
final class PickleDict {
    enum Key: Hashable { case string(String), int(Int) }
    private(set) var entries: [(key: PickleValue, value: PickleValue)] = []
    private var index: [Key: Int] = [:]

    func set(_ key: PickleValue, _ value: PickleValue) {
        let k: Key?
        switch key {
        case .string(let s): k = .string(s)
        case .int(let i): k = .int(i)
        default: k = nil
        }
        if let k, let i = index[k] { entries[i].value = value; return }
        if let k { index[k] = entries.count }
        entries.append((key, value))
    }

    subscript(_ key: String) -> PickleValue? { index[.string(key)].map { entries[$0].value } }

    func removeAll() { entries = []; index = [:] }
}

/// A storage as named by a checkpoint's persistent id, not yet read.
struct StorageRef {
    /// Key of the bytes: the zip entry `data/<key>` or the legacy storage key.
    var key: String
    /// Element type of the storage (`uint8` for an untyped storage).
    var dtype: WeightDType
    /// Elements in the storage as declared by the persistent id.
    var numel: Int
    /// For legacy view storages: the (offset, count) elements of the root storage `key` it covers.
    var view: (offset: Int, count: Int)?
    /// Whether the storage is untyped (bytes); then the tensor's own dtype says how to read it.
    var untyped = false
}

/// A tensor view on a storage (`_rebuild_tensor_v2` arguments).
struct TensorRef {
    var storage: StorageRef
    var offset: Int
    var shape: [Int]
    var strides: [Int]
    /// Element type when it differs from the storage's (`_rebuild_tensor_v3` on untyped storage).
    var dtype: WeightDType
}

/// The Python globals a checkpoint pickle may name. Everything else is refused by name.
enum PickleGlobal {
    case orderedDict
    case rebuildTensor, rebuildTensorV2, rebuildTensorV3
    case rebuildParameter, rebuildParameterWithState, rebuildFromTypeV2
    case tensorClass(String)
    case storageType(WeightDType, untyped: Bool)
    case dtype(WeightDType)
    case device, size, getLayout, layout(String)

    /// The dotted Python name, for messages.
    var name: String {
        switch self {
        case .orderedDict: return "collections.OrderedDict"
        case .rebuildTensor: return "torch._utils._rebuild_tensor"
        case .rebuildTensorV2: return "torch._utils._rebuild_tensor_v2"
        case .rebuildTensorV3: return "torch._utils._rebuild_tensor_v3"
        case .rebuildParameter: return "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: return "torch._utils._rebuild_parameter_with_state"
        case .rebuildFromTypeV2: return "torch._tensor._rebuild_from_type_v2"
        case .tensorClass(let n): return n
        case .storageType(let t, let untyped):
            if untyped { return "torch.UntypedStorage" }
            return "torch." + (PickleGlobal.storageTypes.first { $0.value == t }?.key ?? "Storage")
        case .dtype(let t): return "torch.\(t.rawValue)"
        case .device: return "torch.device"
        case .size: return "torch.Size"
        case .getLayout: return "torch.serialization._get_layout"
        case .layout(let n): return "torch.\(n)"
        }
    }

    /// Looks up `module.name` in the allow list. Python 2 spellings (`__builtin__`) are not mapped:
    /// nothing from builtins is allowed anyway.
    static func resolve(module: String, name: String) -> PickleGlobal? {
        let full = module + "." + name
        if let g = fixed[full] { return g }
        if module == "torch" || module == "torch.cuda" {
            if let t = storageTypes[name] { return .storageType(t, untyped: false) }
        }
        if module == "torch" {
            if name == "UntypedStorage" { return .storageType(.uint8, untyped: true) }
            if let t = dtypes[name] { return .dtype(t) }
            if name == "strided" { return .layout(name) }
        }
        if full == "torch.storage.UntypedStorage" { return .storageType(.uint8, untyped: true) }
        return nil
    }

    private static let fixed: [String: PickleGlobal] = [
        "collections.OrderedDict": .orderedDict,
        "torch._utils._rebuild_tensor": .rebuildTensor,
        "torch._utils._rebuild_tensor_v2": .rebuildTensorV2,
        "torch._utils._rebuild_tensor_v3": .rebuildTensorV3,
        "torch._utils._rebuild_parameter": .rebuildParameter,
        "torch._utils._rebuild_parameter_with_state": .rebuildParameterWithState,
        "torch._tensor._rebuild_from_type_v2": .rebuildFromTypeV2,
        "torch.Tensor": .tensorClass("torch.Tensor"),
        "torch._tensor.Tensor": .tensorClass("torch.Tensor"),
        "torch.nn.parameter.Parameter": .tensorClass("torch.nn.parameter.Parameter"),
        "torch.device": .device,
        "torch.Size": .size,
        "torch.serialization._get_layout": .getLayout,
    ]

    private static let storageTypes: [String: WeightDType] = [
        "FloatStorage": .float32, "DoubleStorage": .float64, "HalfStorage": .float16,
        "BFloat16Storage": .bfloat16, "LongStorage": .int64, "IntStorage": .int32,
        "ShortStorage": .int16, "CharStorage": .int8, "ByteStorage": .uint8, "BoolStorage": .bool,
    ]

    private static let dtypes: [String: WeightDType] = [
        "float32": .float32, "float": .float32, "float64": .float64, "double": .float64,
        "float16": .float16, "half": .float16, "bfloat16": .bfloat16, "int64": .int64, "long": .int64,
        "int32": .int32, "int": .int32, "int16": .int16, "short": .int16, "int8": .int8,
        "uint8": .uint8, "bool": .bool,
    ]
}

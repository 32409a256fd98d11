import FoveaTensor

/// What went wrong when loading a state dict strictly: every missing key, unexpected key and
/// shape mismatch, not just the first.
public struct StateDictError: Error, CustomStringConvertible {
    public var missing: [String] = []
    public var unexpected: [String] = []
    public var mismatched: [(key: String, expected: [Int], found: [Int])] = []

    public var isEmpty: Bool { missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty }

    public var description: String {
        var parts: [String] = []
        func list(_ keys: [String]) -> String {
            keys.prefix(8).joined(separator: ", ") + (keys.count > 8 ? ", ... (\(keys.count) in all)" : "")
        }
        if !missing.isEmpty { parts.append("missing keys: \(list(missing))") }
        if !unexpected.isEmpty { parts.append("unexpected keys: \(list(unexpected))") }
        if !mismatched.isEmpty {
            parts.append("shape mismatches: " + list(mismatched.map { "\($0.key) expects \($0.expected) but file has \($0.found)" }))
        }
        return parts.joined(separator: "; ")
    }
}

extension Module {
    /// Copies `values` into this module's parameters and buffers by state-dict key.
    ///
    /// Strict loading (the default) checks everything before copying anything and throws a
    /// ``StateDictError`` listing missing keys, unexpected keys and shape mismatches. Tensors with
    /// one element match shape [] and [1] alike (PyTorch's `num_batches_tracked` is 0-d).
    /// Non-strict loading copies what matches and returns the report.
    @discardableResult
    public func loadStateDict(_ values: [String: Tensor], strict: Bool = true) throws -> StateDictError {
        var report = StateDictError()
        let own = stateDict()
        let ownKeys = Set(own.map(\.key))
        for (key, tensor) in own {
            guard let v = values[key] else { report.missing.append(key); continue }
            let sameShape = v.shape == tensor.shape || (v.count == 1 && tensor.count == 1)
            if !sameShape { report.mismatched.append((key, tensor.shape, v.shape)) }
        }
        report.unexpected = values.keys.filter { !ownKeys.contains($0) }.sorted()
        if strict && !report.isEmpty { throw report }
        for (key, tensor) in own {
            guard let v = values[key], v.count == tensor.count,
                  v.shape == tensor.shape || v.count == 1 else { continue }
            tensor.storage.pointer.update(from: v.storage.pointer, count: v.count)
        }
        return report
    }
}

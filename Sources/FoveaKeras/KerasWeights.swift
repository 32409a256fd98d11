import Foundation
import FoveaIO
import FoveaTensor

/// Where a Keras file keeps each layer's weights, by their Keras names (`kernel`, `bias`,
/// `gamma`, `moving_mean`, ...).
protocol KerasWeightStore {
    /// The weights of layer `name` of class `kind` (config `config`), the `occurrence`-th layer of
    /// that class in the model (0 for the first).
    func weights(layer name: String, kind: String, config: [String: Any], occurrence: Int) throws -> [String: Tensor]
}

/// Keras 2 `model.save` (and Keras 3's legacy writer): `model_weights/<layer>` lists its
/// datasets in the `weight_names` attribute ("conv2d/kernel:0").
struct KerasH5Weights: KerasWeightStore {
    let file: HDF5File
    let root: String

    func weights(layer name: String, kind: String, config: [String: Any], occurrence: Int) throws -> [String: Tensor] {
        let group = "\(root == "/" ? "" : root)/\(name)"
        guard let names = file.stringArrayAttribute(group, "weight_names") else {
            throw KerasError("\(file.path): layer '\(name)' (\(kind)): no weights for this layer in the file")
        }
        var out: [String: Tensor] = [:]
        for w in names {
            // "conv2d/kernel:0" -> "kernel"
            let short = String(w.split(separator: "/").last ?? "").split(separator: ":").first.map(String.init) ?? w
            out[short] = try file.floats("\(group)/\(w)")
        }
        return out
    }
}

/// Keras 3 `.keras` archives: `model.weights.h5` keeps layer k of class C at
/// `layers/<snake_case(C)>[_k]/vars/<i>`, unnamed, in the order the layer creates them.
struct KerasArchiveWeights: KerasWeightStore {
    let file: HDF5File

    /// Keras's snake_case of a class name: "DepthwiseConv2D" -> "depthwise_conv2d", "ReLU" -> "re_lu".
    static func snakeCase(_ name: String) -> String {
        let chars = Array(name.filter { $0.isLetter || $0.isNumber || $0 == "_" })
        var out = ""
        for (i, c) in chars.enumerated() {
            // "(.)([A-Z][a-z]+)" -> "\1_\2", then "([a-z])([A-Z])" -> "\1_\2".
            if i > 0 && c.isUppercase {
                let nextLower = i + 1 < chars.count && chars[i + 1].isLowercase
                if nextLower || chars[i - 1].isLowercase { out.append("_") }
            }
            out.append(c)
        }
        return out.lowercased()
    }

    /// The names of a layer's variables, in creation order.
    static func variableNames(kind: String, config: [String: Any]) -> [String] {
        let bias = config["use_bias"] as? Bool ?? true
        switch kind {
        case "Conv2D", "Dense": return ["kernel"] + (bias ? ["bias"] : [])
        case "DepthwiseConv2D": return ["depthwise_kernel"] + (bias ? ["bias"] : [])
        case "SeparableConv2D": return ["depthwise_kernel", "pointwise_kernel"] + (bias ? ["bias"] : [])
        case "BatchNormalization":
            return (config["scale"] as? Bool ?? true ? ["gamma"] : []) + (config["center"] as? Bool ?? true ? ["beta"] : [])
                + ["moving_mean", "moving_variance"]
        default: return []
        }
    }

    func weights(layer name: String, kind: String, config: [String: Any], occurrence: Int) throws -> [String: Tensor] {
        let key = Self.snakeCase(kind) + (occurrence > 0 ? "_\(occurrence)" : "")
        let names = Self.variableNames(kind: kind, config: config)
        var out: [String: Tensor] = [:]
        for (i, variable) in names.enumerated() {
            let path = "/layers/\(key)/vars/\(i)"
            guard file.exists(path) else {
                throw KerasError("\(file.path): layer '\(name)' (\(kind)): weight \(variable) is missing (\(path))")
            }
            out[variable] = try file.floats(path)
        }
        return out
    }
}

extension KerasArchiveWeights {
    /// The configuration and weights of a `.keras` archive; the weights file is unpacked to a
    /// temporary file for libhdf5, removed when `body` returns.
    static func open<T>(_ url: URL, _ body: (_ config: Data, _ weights: KerasArchiveWeights) throws -> T) throws -> T {
        let config: Data?, weights: Data?
        do {
            let entries = try ZipFile.entries(["config.json", "model.weights.h5"], of: url)
            (config, weights) = (entries["config.json"], entries["model.weights.h5"])
        } catch {
            throw KerasError("\(url.path): not a readable Keras archive (\(error))")
        }
        guard let config, let weights else {
            throw KerasError("\(url.path): a zip file without config.json and model.weights.h5, so not a Keras 3 .keras model")
        }
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-keras-\(UUID().uuidString).h5")
        try weights.write(to: temporary)
        defer { try? FileManager.default.removeItem(at: temporary) }
        let file = try HDF5File(path: temporary.path, label: "\(url.path) (model.weights.h5)")
        return try body(config, KerasArchiveWeights(file: file))
    }
}

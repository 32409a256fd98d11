import Foundation
import FoveaNN
import FoveaTensor

/// A Keras Sequential CNN read from an HDF5 `.h5` file (Keras 2 `model.save`): the architecture
/// from the `model_config` attribute, the weights from `model_weights/<layer>/<weight name>`.
///
/// Layers are the Keras layer names (`conv2d_1`, `dense`), each computing what Keras computes
/// (activation included) on NCHW tensors; weights are converted from channels-last once. The
/// input is N x C x H x W like every Fovea model.
public final class KerasSequential: Module {
    public let source: String
    public let layerNames: [String]
    /// Input height, width and channels from the model's `batch_input_shape` (nil if unknown).
    public let inputShape: (height: Int?, width: Int?, channels: Int?)
    /// The model ended in a softmax, which was left out so that it gives logits (what Fovea's
    /// attribution methods differentiate).
    public let droppedFinalSoftmax: Bool

    public static let supportedLayers = ["InputLayer", "Conv2D", "DepthwiseConv2D", "Dense", "BatchNormalization",
                                         "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
                                         "Flatten", "Dropout", "Activation", "ReLU", "Softmax", "LeakyReLU", "Rescaling", "ZeroPadding2D"]

    public init(contentsOf url: URL) throws {
        source = url.path
        let file = try HDF5File(path: url.path)
        guard let configText = file.stringAttribute("/", "model_config") else {
            throw KerasError("\(source): no model_config attribute: not a Keras model saved with model.save (a weights-only file lacks the architecture)")
        }
        guard let config = try? JSONSerialization.jsonObject(with: Data(configText.utf8)) as? [String: Any] else {
            throw KerasError("\(source): model_config is not JSON")
        }
        let className = config["class_name"] as? String ?? "?"
        guard className == "Sequential" else {
            throw KerasError("\(source): a Keras \(className) model; only Sequential models are supported")
        }
        let layerConfigs: [[String: Any]]
        if let inner = config["config"] as? [String: Any], let layers = inner["layers"] as? [[String: Any]] {
            layerConfigs = layers
        } else if let layers = config["config"] as? [[String: Any]] {
            layerConfigs = layers                      // Keras 2.0-2.1 wrote the list directly
        } else {
            throw KerasError("\(source): model_config has no layer list")
        }
        let weightsRoot = file.exists("/model_weights") ? "/model_weights" : "/"

        var modules: [(String, Module)] = []
        var shape: [Int?] = []
        var dropped = false
        for (index, layer) in layerConfigs.enumerated() {
            let kind = layer["class_name"] as? String ?? "?"
            let c = layer["config"] as? [String: Any] ?? [:]
            let name = c["name"] as? String ?? "layer\(index)"
            let context = "\(source): layer '\(name)' (\(kind))"
            if shape.isEmpty, let s = c["batch_input_shape"] as? [Any] { shape = s.map { $0 as? Int } }
            if let format = c["data_format"] as? String, format != "channels_last" {
                throw KerasError("\(context): data_format \(format) is not supported (channels_last is)")
            }
            func weights() throws -> [String: Tensor] {
                let group = "\(weightsRoot == "/" ? "" : weightsRoot)/\(name)"
                guard let names = file.stringArrayAttribute(group, "weight_names") else {
                    throw KerasError("\(context): no weights for this layer in the file")
                }
                var out: [String: Tensor] = [:]
                for w in names {
                    // "conv2d/kernel:0" -> "kernel"
                    let short = String(w.split(separator: "/").last ?? "").split(separator: ":").first.map(String.init) ?? w
                    out[short] = try file.floats("\(group)/\(w)")
                }
                return out
            }
            func activation(_ key: String = "activation") throws -> KerasActivation {
                let value = c[key] as? String ?? "linear"
                guard let a = KerasActivation(rawValue: value) else { throw KerasError("\(context): activation '\(value)' is not supported") }
                return a
            }
            func pair(_ key: String, _ fallback: (Int, Int)) throws -> (Int, Int) {
                guard let v = c[key] else { return fallback }
                if let n = v as? Int { return (n, n) }
                guard let list = v as? [Int], list.count == 2, list.allSatisfy({ $0 >= 1 }) else {
                    throw KerasError("\(context): \(key) \(v) must be two positive integers")
                }
                return (list[0], list[1])
            }
            func padding() throws -> Bool {
                let p = c["padding"] as? String ?? "valid"
                guard p == "valid" || p == "same" else { throw KerasError("\(context): padding '\(p)' is not supported") }
                return p == "same"
            }
            func require(_ w: [String: Tensor], _ key: String, rank: Int) throws -> Tensor {
                guard let t = w[key], t.rank == rank else { throw KerasError("\(context): weight '\(key)' is missing or not \(rank)-D") }
                return t
            }
            var module: Module?
            switch kind {
            case "InputLayer":
                module = nil
            case "Conv2D", "DepthwiseConv2D":
                let w = try weights()
                let depthwise = kind == "DepthwiseConv2D"
                var kernel = try require(w, depthwise ? "depthwise_kernel" : "kernel", rank: 4)
                var groups = try (c["groups"] as? Int).map { g in
                    guard g >= 1 else { throw KerasError("\(context): groups \(g)") }
                    return g
                } ?? 1
                if depthwise {
                    // (kh, kw, in, multiplier) -> HWIO with in groups of one input channel each.
                    let (kh, kw, cin, m) = (kernel.shape[0], kernel.shape[1], kernel.shape[2], kernel.shape[3])
                    kernel = kernel.reshaped([kh, kw, 1, cin * m])
                    groups = cin
                }
                let bias = w["bias"]
                if let bias, bias.count != kernel.shape[3] { throw KerasError("\(context): bias of \(bias.count) for \(kernel.shape[3]) filters") }
                module = KerasConv2D(kernel: kernel, bias: bias, stride: try pair("strides", (1, 1)),
                                     dilation: try pair("dilation_rate", (1, 1)), same: try padding(), groups: groups,
                                     activation: try activation())
            case "Dense":
                let w = try weights()
                let kernel = try require(w, "kernel", rank: 2)
                module = KerasDense(kernel: kernel, bias: w["bias"], activation: try activation())
            case "BatchNormalization":
                let axis = (c["axis"] as? [Int])?.first ?? (c["axis"] as? Int) ?? -1
                guard axis == -1 || axis == 3 else { throw KerasError("\(context): normalisation over axis \(axis) is not supported (the channel axis, 3, is)") }
                let w = try weights()
                let mean = try require(w, "moving_mean", rank: 1)
                let n = mean.count
                module = KerasBatchNormalization(gamma: w["gamma"] ?? Tensor(repeating: 1, shape: [n]), beta: w["beta"] ?? Tensor(zeros: [n]),
                                                 mean: mean, variance: try require(w, "moving_variance", rank: 1),
                                                 eps: Float(c["epsilon"] as? Double ?? 1e-3))
            case "MaxPooling2D", "AveragePooling2D":
                let pool = try pair("pool_size", (2, 2))
                module = KerasPooling2D(pool: pool, stride: try pair("strides", pool), same: try padding(), max: kind == "MaxPooling2D")
            case "GlobalAveragePooling2D", "GlobalMaxPooling2D":
                if c["keepdims"] as? Bool == true { throw KerasError("\(context): keepdims is not supported") }
                module = KerasGlobalPooling2D(max: kind == "GlobalMaxPooling2D")
            case "Flatten":
                module = KerasFlatten()
            case "Dropout":
                module = KerasElementwise(kind: kind) { $0 }
            case "Activation":
                let a = try activation()
                module = KerasElementwise(kind: "Activation \(a.rawValue)") { a.apply($0) }
            case "ReLU":
                let cap = c["max_value"] as? Double
                let slope = Float(c["negative_slope"] as? Double ?? 0), threshold = c["threshold"] as? Double ?? 0
                guard threshold == 0 else { throw KerasError("\(context): a ReLU threshold is not supported") }
                module = KerasElementwise(kind: kind) { x in
                    let y = slope == 0 ? x.relu() : x.leakyRelu(slope)
                    guard let cap else { return y }
                    let hi = Float(cap)
                    return hi - (hi - y).relu()
                }
            case "LeakyReLU":
                let alpha = Float(c["alpha"] as? Double ?? c["negative_slope"] as? Double ?? 0.3)
                module = KerasElementwise(kind: kind) { $0.leakyRelu(alpha) }
            case "Softmax":
                module = KerasElementwise(kind: kind) { $0.softmax(axis: 1) }
            case "Rescaling":
                let scale = Float(c["scale"] as? Double ?? 1), offset = Float(c["offset"] as? Double ?? 0)
                module = KerasElementwise(kind: kind) { $0 * scale + offset }
            case "ZeroPadding2D":
                let p = c["padding"]
                var pads = (0, 0, 0, 0)
                if let n = p as? Int { pads = (n, n, n, n) }
                else if let l = p as? [Int], l.count == 2 { pads = (l[0], l[0], l[1], l[1]) }
                else if let l = p as? [[Int]], l.count == 2, l.allSatisfy({ $0.count == 2 }) { pads = (l[0][0], l[0][1], l[1][0], l[1][1]) }
                else { throw KerasError("\(context): padding \(String(describing: p)) is not understood") }
                let (t, b, l, r) = pads
                guard [t, b, l, r].allSatisfy({ $0 >= 0 }) else { throw KerasError("\(context): negative padding") }
                module = KerasElementwise(kind: kind, padding: pads) { $0.padded(top: t, bottom: b, left: l, right: r) }
            default:
                throw KerasError("\(context): layer type \(kind) is not supported (supported: \(Self.supportedLayers.joined(separator: ", ")))")
            }
            if let module { modules.append((name, module)) }
        }
        guard !modules.isEmpty else { throw KerasError("\(source): the model has no layers") }
        // A final softmax (a layer, or the last layer's activation) is left out: logits.
        if let (name, last) = modules.last {
            if let dense = last as? KerasDense, dense.activation == .softmax {
                modules[modules.count - 1] = (name, KerasDense(kernel: dense.weight.permuted([1, 0]).copy(), bias: dense.bias, activation: .linear))
                dropped = true
            } else if let conv = last as? KerasConv2D, conv.activation == .softmax {
                throw KerasError("\(source): a convolution with a softmax activation as the last layer is not supported")
            } else if let e = last as? KerasElementwise, e.kind == "Softmax" || e.kind == "Activation softmax" {
                modules.removeLast()
                dropped = true
            }
        }
        // Shapes must fit from the input to the output.
        if shape.count == 4, let h = shape[1], let w = shape[2], let ch = shape[3] {
            var s = [ch, h, w]
            for (name, module) in modules {
                guard let next = (module as? KerasShaped)?.outputShape(s) else {
                    throw KerasError("\(source): layer '\(name)' does not accept its input of shape \(s) (C, H, W)")
                }
                s = next
            }
            guard s.count == 1 else { throw KerasError("\(source): the model outputs shape \(s), not a vector of class scores") }
        }
        droppedFinalSoftmax = dropped
        layerNames = modules.map(\.0)
        let dims = shape.count == 4 ? shape : [nil, nil, nil, nil]
        inputShape = (dims[1], dims[2], dims[3])
        super.init()
        for (name, module) in modules { registerChild(name, module) }
    }

    /// Feed BGR images: ``forward(_:)`` reverses the channels of its RGB input.
    public var reversesInputChannels = false

    public override func forward(_ x: Tensor) -> Tensor {
        children.reduce(reversesInputChannels ? x.reversed(axis: 1) : x) { y, child in child.module(y) }
    }
}

import Foundation
import FoveaIO
import FoveaNN
import FoveaTensor

/// A Keras CNN: Sequential or Functional, from a Keras 2 `model.save` HDF5 file (`.h5`: the
/// architecture in the `model_config` attribute, weights under `model_weights/<layer>`) or a
/// Keras 3 archive (`.keras`: config.json and model.weights.h5).
///
/// Layers are the Keras layer names (`conv2d_1`, `dense`), each computing what Keras computes
/// (activation included) on NCHW tensors; weights are converted from channels-last once. The
/// input is N x C x H x W like every Fovea model. Layers with several inputs (Add, Concatenate,
/// Multiply, ...) take them from the layers the file names. No file's code is run: Lambda layers
/// and custom classes are refused.
public final class KerasModel: Module {
    public let source: String
    public let layerNames: [String]
    /// Input height, width and channels from the model's input shape (nil if unknown).
    public let inputShape: (height: Int?, width: Int?, channels: Int?)
    /// The model ended in a softmax, which was left out so that it gives logits (what Fovea's
    /// attribution methods differentiate).
    public let droppedFinalSoftmax: Bool
    /// "Sequential" or "Functional".
    public let architecture: String
    /// Feed BGR images: ``forward(_:)`` reverses the channels of its RGB input.
    public var reversesInputChannels = false

    /// One layer call: the layer, and the layers (or the input) whose outputs it reads.
    struct Node {
        let name: String
        let inputs: [String]
        let module: Module
    }
    private let nodes: [Node]
    private let inputName: String
    private let outputName: String

    public static let supportedLayers = ["InputLayer", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense", "BatchNormalization",
                                         "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
                                         "Flatten", "Reshape", "Dropout", "SpatialDropout2D", "Activation", "ReLU", "Softmax", "LeakyReLU",
                                         "Rescaling", "ZeroPadding2D", "Add", "Subtract", "Multiply", "Average", "Maximum",
                                         "Minimum", "Concatenate"]

    /// A `.h5` (HDF5) or `.keras` (zip) model file, told apart by content.
    public convenience init(contentsOf url: URL) throws {
        let head = InputFile.head(url, 4)
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            let parsed = try KerasArchiveWeights.open(url) { config, weights in
                try Self.parse(source: url.path, config: config, weights: weights)
            }
            self.init(parsed: parsed)
        } else {
            let file = try HDF5File(path: url.path)
            guard let configText = file.stringAttribute("/", "model_config") else {
                throw KerasError("\(url.path): no model_config attribute: not a Keras model saved with model.save (a weights-only file lacks the architecture)")
            }
            let store = KerasH5Weights(file: file, root: file.exists("/model_weights") ? "/model_weights" : "/")
            self.init(parsed: try Self.parse(source: url.path, config: Data(configText.utf8), weights: store))
        }
    }

    /// Everything read from a file, before the module is assembled.
    struct Parsed {
        let source: String
        let architecture: String
        let nodes: [Node]
        let inputName: String
        let outputName: String
        let inputShape: [Int?]
        let droppedFinalSoftmax: Bool
    }

    private init(parsed p: Parsed) {
        source = p.source
        architecture = p.architecture
        nodes = p.nodes
        inputName = p.inputName
        outputName = p.outputName
        droppedFinalSoftmax = p.droppedFinalSoftmax
        layerNames = p.nodes.map(\.name)
        let dims = p.inputShape.count == 4 ? p.inputShape : [nil, nil, nil, nil]
        inputShape = (dims[1], dims[2], dims[3])
        super.init()
        for node in p.nodes { registerChild(node.name, node.module) }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        var values = [inputName: reversesInputChannels ? x.reversed(axis: 1) : x]
        for node in nodes {
            let inputs = node.inputs.map { values[$0]! }
            values[node.name] = node.module(((node.module as? KerasMerge)?.merge(inputs)) ?? inputs[0])
        }
        return values[outputName]!
    }

    /// The final Dense layer and, when global average pooling feeds it, the layer pooled and the
    /// Dense weight [classes, K]: what CAM needs.
    public var classifierHead: (dense: String, pooled: String?, weight: Tensor)? {
        guard let node = nodes.first(where: { $0.name == outputName }), let dense = node.module as? KerasDense else { return nil }
        // Back through reshapes of the pooled [C] (to [1, 1, C] and back) and dropout.
        var source = nodes.first { $0.name == node.inputs[0] }
        while let s = source, s.module is KerasReshape || s.module is KerasFlatten || (s.module as? KerasElementwise)?.kind == "Dropout" {
            source = nodes.first { $0.name == s.inputs[0] }
        }
        guard let pool = source?.module as? KerasGlobalPooling2D, !pool.max,
              let pooled = source?.inputs[0], pooled != inputName else { return (node.name, nil, dense.weight) }
        return (node.name, pooled, dense.weight)
    }

    /// One layer of the config: its class, config and the layers it reads.
    struct LayerEntry {
        let name: String
        let kind: String
        let config: [String: Any]
        let inbound: [String]
    }

    static func parse(source: String, config data: Data, weights store: KerasWeightStore) throws -> Parsed {
        guard let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw KerasError("\(source): the model config is not JSON")
        }
        let className = config["class_name"] as? String ?? "?"
        let inner = config["config"] as? [String: Any]
        let layerConfigs: [[String: Any]]
        if let layers = inner?["layers"] as? [[String: Any]] {
            layerConfigs = layers
        } else if let layers = config["config"] as? [[String: Any]] {
            layerConfigs = layers                      // Keras 2.0-2.1 wrote the list directly
        } else {
            throw KerasError("\(source): the model config has no layer list")
        }
        let inputName = "input"
        var entries: [LayerEntry] = []
        var shape: [Int?] = []
        var input = inputName
        var output: String?
        switch className {
        case "Sequential":
            var previous = inputName
            for (index, layer) in layerConfigs.enumerated() {
                let c = layer["config"] as? [String: Any] ?? [:]
                let kind = layer["class_name"] as? String ?? "?"
                let name = c["name"] as? String ?? "layer\(index)"
                entries.append(LayerEntry(name: name, kind: kind, config: c, inbound: kind == "InputLayer" ? [] : [previous]))
                if kind != "InputLayer" { previous = name }
            }
            output = previous
        case "Functional", "Model":
            for (index, layer) in layerConfigs.enumerated() {
                let c = layer["config"] as? [String: Any] ?? [:]
                let kind = layer["class_name"] as? String ?? "?"
                let name = layer["name"] as? String ?? c["name"] as? String ?? "layer\(index)"
                let calls = layer["inbound_nodes"] as? [Any] ?? []
                guard calls.count <= 1 else {
                    throw KerasError("\(source): layer '\(name)' (\(kind)) is called \(calls.count) times; shared layers are not supported")
                }
                entries.append(LayerEntry(name: name, kind: kind, config: c, inbound: calls.first.map(inboundLayers) ?? []))
            }
            func first(_ key: String) -> String? {
                let v = inner?[key] as? [Any]
                return (v?.first as? String) ?? ((v?.first as? [Any])?.first as? String)
            }
            guard let i = first("input_layers"), let o = first("output_layers") else {
                throw KerasError("\(source): the model config names no input or output layer")
            }
            if let count = (inner?["input_layers"] as? [Any]).map({ $0.first is String ? 1 : $0.count }), count > 1 {
                throw KerasError("\(source): the model has \(count) inputs; an image classifier has one")
            }
            input = i
            output = o
        default:
            throw KerasError("\(source): a Keras \(className) model; Sequential and Functional models are supported")
        }

        var nodes: [Node] = []
        var known: Set<String> = [input]
        var occurrences: [String: Int] = [:]
        for entry in entries {
            let occurrence = occurrences[entry.kind, default: 0]
            occurrences[entry.kind] = occurrence + 1
            let context = "\(source): layer '\(entry.name)' (\(entry.kind))"
            let c = entry.config
            if entry.kind == "InputLayer" {
                if let s = (c["batch_input_shape"] ?? c["batch_shape"]) as? [Any] { shape = s.map { $0 as? Int } }
                if className == "Sequential" { input = inputName }
                continue
            }
            if shape.isEmpty, let s = (c["batch_input_shape"] ?? c["batch_shape"]) as? [Any] { shape = s.map { $0 as? Int } }
            for name in entry.inbound where !known.contains(name) {
                throw KerasError("\(context): reads '\(name)', which is not computed before it")
            }
            guard !entry.inbound.isEmpty else { throw KerasError("\(context): the layer has no input") }
            let module = try makeLayer(entry, context: context, occurrence: occurrence, weights: store)
            nodes.append(Node(name: entry.name, inputs: entry.inbound.map { $0 == input ? inputName : $0 }, module: module))
            known.insert(entry.name)
        }
        guard !nodes.isEmpty, var outputName = output, nodes.contains(where: { $0.name == outputName }) else {
            throw KerasError("\(source): the model has no layers")
        }
        // A final softmax (a layer, or the last layer's activation) is left out: logits.
        var dropped = false
        if let k = nodes.firstIndex(where: { $0.name == outputName }) {
            let last = nodes[k].module
            if let dense = last as? KerasDense, dense.activation == .softmax {
                nodes[k] = Node(name: outputName, inputs: nodes[k].inputs,
                                module: KerasDense(kernel: dense.weight.permuted([1, 0]).copy(), bias: dense.bias, activation: .linear))
                dropped = true
            } else if let conv = last as? KerasConv2D, conv.activation == .softmax {
                throw KerasError("\(source): a convolution with a softmax activation as the last layer is not supported")
            } else if let e = last as? KerasElementwise, e.kind == "Softmax" || e.kind == "Activation softmax", nodes[k].inputs[0] != inputName {
                outputName = nodes[k].inputs[0]
                nodes.remove(at: k)
                dropped = true
            }
        }
        // Shapes must fit from the input to the output.
        if shape.count == 4, let h = shape[1], let w = shape[2], let ch = shape[3] {
            var shapes: [String: [Int]] = [inputName: [ch, h, w]]
            for node in nodes {
                let inputs = node.inputs.map { shapes[$0]! }
                let out = (node.module as? KerasMerge).map { $0.outputShape(inputs) }
                    ?? (inputs.count == 1 ? (node.module as? KerasShaped)?.outputShape(inputs[0]) : nil)
                guard let out else {
                    throw KerasError("\(source): layer '\(node.name)' does not accept its input\(inputs.count > 1 ? "s" : "") of shape \(inputs.map { "\($0)" }.joined(separator: ", ")) (C, H, W)")
                }
                shapes[node.name] = out
            }
            guard shapes[outputName]!.count == 1 else {
                throw KerasError("\(source): the model outputs shape \(shapes[outputName]!), not a vector of class scores")
            }
        }
        return Parsed(source: source, architecture: className == "Sequential" ? "Sequential" : "Functional", nodes: nodes,
                      inputName: inputName, outputName: outputName, inputShape: shape, droppedFinalSoftmax: dropped)
    }

    /// The layers a call reads: Keras 2's [[name, node, tensor, kwargs], ...] or Keras 3's
    /// {"args": [keras tensors, or lists of them], "kwargs": {}} with `keras_history`.
    static func inboundLayers(_ call: Any) -> [String] {
        if let dict = call as? [String: Any] {
            if let history = (dict["config"] as? [String: Any])?["keras_history"] as? [Any], let name = history.first as? String {
                return [name]
            }
            return (dict["args"] as? [Any] ?? []).flatMap(inboundLayers)
        }
        guard let list = call as? [Any] else { return [] }
        if let name = list.first as? String { return [name] }           // one Keras 2 inbound tensor
        return list.flatMap(inboundLayers)
    }

    /// The module of one layer, its weights converted to NCHW layouts.
    static func makeLayer(_ entry: LayerEntry, context: String, occurrence: Int, weights store: KerasWeightStore) throws -> Module {
        let c = entry.config, kind = entry.kind
        if let format = c["data_format"] as? String, format != "channels_last" {
            throw KerasError("\(context): data_format \(format) is not supported (channels_last is)")
        }
        func weights() throws -> [String: Tensor] {
            try store.weights(layer: entry.name, kind: kind, config: c, occurrence: occurrence)
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
        case "Conv2D", "DepthwiseConv2D":
            let w = try weights()
            let depthwise = kind == "DepthwiseConv2D"
            var kernel = try require(w, depthwise && w["depthwise_kernel"] != nil ? "depthwise_kernel" : "kernel", rank: 4)      // Keras 3 calls it kernel
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
            module = KerasGlobalPooling2D(max: kind == "GlobalMaxPooling2D", keepDims: c["keepdims"] as? Bool ?? false)
        case "SeparableConv2D":
            let w = try weights()
            let depthwise = try require(w, "depthwise_kernel", rank: 4), pointwise = try require(w, "pointwise_kernel", rank: 4)
            let (kh, kw, cin, m) = (depthwise.shape[0], depthwise.shape[1], depthwise.shape[2], depthwise.shape[3])
            guard pointwise.shape[0] == 1, pointwise.shape[1] == 1, pointwise.shape[2] == cin * m else {
                throw KerasError("\(context): pointwise kernel \(pointwise.shape) does not follow depthwise kernel \(depthwise.shape)")
            }
            let bias = w["bias"]
            if let bias, bias.count != pointwise.shape[3] { throw KerasError("\(context): bias of \(bias.count) for \(pointwise.shape[3]) filters") }
            let first = KerasConv2D(kernel: depthwise.reshaped([kh, kw, 1, cin * m]), bias: nil, stride: try pair("strides", (1, 1)),
                                    dilation: try pair("dilation_rate", (1, 1)), same: try padding(), groups: cin, activation: .linear)
            let second = KerasConv2D(kernel: pointwise, bias: bias, stride: (1, 1), dilation: (1, 1), same: false, groups: 1,
                                     activation: try activation())
            module = KerasSeparableConv2D(depthwise: first, pointwise: second)
        case "Flatten":
            module = KerasFlatten()
        case "Reshape":
            guard let target = c["target_shape"] as? [Int], !target.isEmpty, target.allSatisfy({ $0 > 0 }) else {
                throw KerasError("\(context): target_shape \(String(describing: c["target_shape"])) must be positive sizes (-1 is not supported)")
            }
            module = KerasReshape(target: target)
        case "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate":
            module = KerasMerge(KerasMerge.Operation(rawValue: kind)!, axis: c["axis"] as? Int ?? -1)
        case "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "ActivityRegularization":
            module = KerasElementwise(kind: kind) { $0 }
        case "Lambda", "TFOpLambda", "SlicingOpLambda":
            throw KerasError("\(context): a \(kind) layer holds Python code, which Fovea never runs; rebuild the model without it or export it to ONNX")
        case "Functional", "Model", "Sequential":
            throw KerasError("\(context): a model nested inside the model is not supported; save the inner model's layers flat, or export to ONNX")
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
        guard let module else { throw KerasError("\(context): the layer computes nothing") }
        return module
    }
}

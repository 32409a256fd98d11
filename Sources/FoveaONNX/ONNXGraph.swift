import Foundation
import FoveaNN
import FoveaTensor
import SwiftProtobuf

/// The output of one ONNX node as a layer. Its forward is the identity, called on the node's
/// output, so a hook on it sees (and may replace) that output, as a PyTorch forward hook does.
final class ONNXNodeOutput: Module, ConvolutionWeighted, AxisOrderReporting {
    let opType: String
    /// A Conv node's constant weight [out, in / group, kh, kw].
    var convolutionWeight: Tensor?
    /// The node's value is channels-last in the file (hooks see it as NCHW).
    var channelsLast = false
    /// The node's 4-D value has an axis order Fovea could not follow.
    var axisOrderProblem: String?
    init(opType: String) { self.opType = opType }
    override var kindDescription: String { "ONNX \(opType)" + (channelsLast ? " (NHWC in the file)" : "") }
}

/// An ONNX model imported as a ``Module``: every node is lowered to differentiable tensor ops,
/// so hooks, gradients and every technique work on it.
///
/// - Layers: each computing node is a child module named by its first output (the ONNX value
///   name, e.g. `/layer4/layer4.1/relu_1/Relu_output_0`), in graph order.
/// - Parameters: floating-point initializers, named as in the file.
/// - Constant subgraphs (shape arithmetic, dequantised weights) are evaluated once at load.
///
/// ```swift
/// let graph = try ONNXGraph(contentsOf: URL(fileURLWithPath: "resnet18.onnx"))
/// let logits = graph(x)                          // single-input graphs
/// let outputs = try graph.run(["image": x, "style_weights": w])
/// ```
public final class ONNXGraph: Module {
    /// A graph input: its name and declared shape (nil for a symbolic dimension).
    public struct Input: Sendable {
        public let name: String
        public let shape: [Int?]
    }

    struct Step {
        let node: Onnx_NodeProto
        let context: String
        let inputs: [String]
        let outputs: [String]
        let kernel: ONNXKernel
        let layer: ONNXNodeOutput
    }

    /// Where the graph came from (a file path), for messages.
    public let source: String
    public let inputs: [Input]
    public let outputNames: [String]
    /// The opset of the default ONNX domain.
    public let opset: Int
    /// Nodes in the file, and how many of them were constant and evaluated at load.
    public let nodeCount: Int
    public let foldedNodeCount: Int
    /// Feed channels-last images: ``forward(_:)`` permutes NCHW input to NHWC (TensorFlow exports).
    public var channelsLastInput = false {
        didSet { followLayouts() }
    }
    /// Feed BGR images: ``forward(_:)`` reverses the channels of its RGB input (Caffe-style exports).
    public var reversesInputChannels = false
    /// The value ``forward(_:)`` returns: the first graph output, or the logits before a final
    /// Softmax (see ``classifierHead()``).
    public var forwardOutput: String
    let constants: [String: ONNXValue]
    let steps: [Step]
    /// Each followed 4-D value's axis order. Channels-last values are shown to their layer (and
    /// so to hooks) as NCHW, so every technique reads channels on axis 1.
    private(set) var layouts: [String: ONNXLayout] = [:]

    /// The ONNX opsets whose operator semantics Fovea implements.
    public static let supportedOpsets = 7...22

    public convenience init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ONNXError("\(url.path): cannot read the file (\(error.localizedDescription))")
        }
        try self.init(serialized: data, source: url.path, directory: url.deletingLastPathComponent())
    }

    /// Parses and checks a serialised ModelProto, lowers its nodes and folds its constants.
    /// External tensor data is read from `directory` (the model file's folder).
    public init(serialized data: Data, source: String, directory: URL? = nil) throws {
        self.source = source
        let model: Onnx_ModelProto
        do {
            model = try Onnx_ModelProto(serializedBytes: data)
        } catch {
            throw ONNXError("\(source): not an ONNX model (protobuf decoding failed: \(error))")
        }
        guard model.hasGraph, !model.graph.node.isEmpty else { throw ONNXError("\(source): the ONNX model has no graph nodes") }
        let defaultDomain = model.opsetImport.filter { $0.domain == "" || $0.domain == "ai.onnx" }
        guard let opsetVersion = defaultDomain.map(\.version).max() else {
            throw ONNXError("\(source): the model imports no opset of the default ONNX domain")
        }
        guard let opset = Int(exactly: opsetVersion), ONNXGraph.supportedOpsets.contains(opset) else {
            throw ONNXError("\(source): opset \(opsetVersion) is not supported (opsets \(ONNXGraph.supportedOpsets.lowerBound) to \(ONNXGraph.supportedOpsets.upperBound) are)")
        }
        self.opset = opset
        let graph = model.graph

        var constants: [String: ONNXValue] = [:]
        var parameters: [(String, Tensor)] = []
        let external = ExternalDataReader(directory: directory)
        for initializer in graph.initializer {
            let value = try initializer.value(context: "\(source): initializer '\(initializer.name)'", external: external)
            constants[initializer.name] = value
            if case .float(let t) = value { parameters.append((initializer.name, t)) }
        }
        inputs = try graph.input.filter { constants[$0.name] == nil }.map { info in
            let type = info.type.tensorType
            guard type.elemType == ONNXDataType.float.rawValue || type.elemType == 0 else {       // 0: unspecified
                throw ONNXError("\(source): input '\(info.name)' has element type \(type.elemType); only float inputs are supported")
            }
            return Input(name: info.name, shape: type.shape.dim.map { $0.dimValue > 0 ? Int(clamping: $0.dimValue) : nil })
        }
        guard !inputs.isEmpty else { throw ONNXError("\(source): the graph has no inputs") }

        var known = Set(constants.keys).union(inputs.map(\.name))
        var steps: [Step] = []
        var folded = 0
        var layers: [(String, ONNXNodeOutput)] = []
        var layerOutputs: Set<String> = []
        for (index, node) in graph.node.enumerated() {
            let label = node.name.isEmpty ? (node.output.first ?? "#\(index)") : node.name
            let context = "\(source): node '\(label)' (\(node.opType))"
            guard node.domain.isEmpty || node.domain == "ai.onnx" else {
                throw ONNXError("\(context): operator domain '\(node.domain)' is not supported")
            }
            guard let first = node.output.first, !first.isEmpty else { throw ONNXError("\(context): the node has no output") }
            for name in node.input where !name.isEmpty && !known.contains(name) {
                throw ONNXError("\(context): input '\(name)' is not computed before this node (the graph is not topologically sorted or refers to a missing value)")
            }
            let kernel = try ONNXOperators.kernel(for: node, opset: opset, context: context)
            let live = node.output.filter { !$0.isEmpty }
            if node.input.allSatisfy({ $0.isEmpty || constants[$0] != nil }) {
                // Constant: evaluate now.
                let values = try withNoGrad { try kernel(node.input.map { $0.isEmpty ? nil : constants[$0] }) }
                guard values.count >= node.output.count else { throw ONNXError("\(context): produces \(values.count) outputs, the graph uses \(node.output.count)") }
                for (name, value) in zip(node.output, values) where !name.isEmpty { constants[name] = value }
                folded += 1
            } else {
                guard layerOutputs.insert(first).inserted else { throw ONNXError("\(context): output '\(first)' is computed twice") }
                let layer = ONNXNodeOutput(opType: node.opType)
                if node.opType == "Conv", node.input.count > 1, case .float(let w)? = constants[node.input[1]], w.rank == 4 {
                    layer.convolutionWeight = w
                }
                layers.append((first, layer))
                steps.append(Step(node: node, context: context, inputs: node.input, outputs: node.output, kernel: kernel, layer: layer))
            }
            known.formUnion(live)
        }
        outputNames = graph.output.map(\.name)
        for name in outputNames where !known.contains(name) {
            throw ONNXError("\(source): graph output '\(name)' is not computed by any node")
        }
        guard !outputNames.isEmpty else { throw ONNXError("\(source): the graph has no outputs") }
        self.constants = constants
        self.steps = steps
        forwardOutput = outputNames[0]
        nodeCount = graph.node.count
        foldedNodeCount = folded
        super.init()
        followLayouts()
        for (name, tensor) in parameters { registerParameter(name, tensor) }
        for (name, layer) in layers { registerChild(name, layer) }
    }

    private func followLayouts() {
        layouts = Self.followLayouts(steps: steps, input: inputs[0].name, channelsLastInput: channelsLastInput, constants: Set(constants.keys))
        for step in steps {
            step.layer.channelsLast = layouts[step.outputs[0]] == .nhwc
            step.layer.axisOrderProblem = layouts[step.outputs[0]] == .unknown
                ? "a value whose axes a Transpose in the graph put in an order that is neither NCHW nor NHWC" : nil
        }
    }

    /// Runs the graph on named inputs; returns the graph outputs (or the values `outputs` names:
    /// any node output) as float tensors.
    public func run(_ feeds: [String: Tensor], outputs requested: [String]? = nil) throws -> [String: Tensor] {
        for name in requested ?? [] where !layerNames.contains(name) && !outputNames.contains(name)
            && constants[name] == nil && !steps.contains(where: { $0.outputs.contains(name) }) {
            throw ONNXError("\(source): no value named '\(name)' (see `fovea layers`)")
        }
        var values = constants
        // A graph exported for a batch of 1 (torch.onnx.export's default) runs a larger batch one
        // image at a time, node by node: hooks still see each layer's whole batch.
        var batch = 1
        var batched: Set<String> = []
        for input in inputs {
            guard let t = feeds[input.name] else {
                throw ONNXError("\(source): input '\(input.name)' was not given (inputs: \(inputs.map(\.name).joined(separator: ", ")))")
            }
            let perImage = input.shape.first == 1 && t.rank == input.shape.count && t.rank > 0 && t.shape[0] > 1
            let declared = perImage ? [nil] + input.shape.dropFirst() : input.shape
            let fits = t.rank == input.shape.count && zip(t.shape, declared).allSatisfy { $1 == nil || $0 == $1 }
            guard fits || input.shape.isEmpty else {
                throw ONNXError("\(source): input '\(input.name)' has shape \(t.shape); the graph declares \(input.shape.map { $0.map(String.init) ?? "?" })")
            }
            if perImage {
                guard batch == 1 || batch == t.shape[0] else { throw ONNXError("\(source): inputs have different batch sizes") }
                batch = t.shape[0]
                batched.insert(input.name)
            }
            values[input.name] = .float(t)
        }
        for step in steps {
            if ForwardStop.current?.isStopped == true { return [:] }       // a truncated pass: nothing more is read
            let arguments = try step.inputs.map { name -> ONNXValue? in
                if name.isEmpty { return nil }
                guard let v = values[name] else { throw ONNXError("\(step.context): input '\(name)' is missing") }
                return v
            }
            var results: [ONNXValue]
            if batch > 1 && step.inputs.contains(where: batched.contains) {
                results = try perImage(step, arguments, batch: batch, batched: batched)
                batched.formUnion(step.outputs.filter { !$0.isEmpty })
            } else {
                results = try step.kernel(arguments)
            }
            guard results.count >= step.outputs.filter({ !$0.isEmpty }).count else {
                throw ONNXError("\(step.context): produces \(results.count) outputs, the graph uses \(step.outputs.count)")
            }
            // Feature tensors ([N, ...]) go through their layer, where hooks see them; scalars and
            // vectors of shape arithmetic do not.
            if case .float(let y) = results[0], y.rank >= 2 {
                results[0] = .float(y.rank == 4 && layouts[step.outputs[0]] == .nhwc
                    ? step.layer(y.permuted([0, 3, 1, 2])).permuted([0, 2, 3, 1])
                    : step.layer(y))
            }
            for (name, value) in zip(step.outputs, results) where !name.isEmpty { values[name] = value }
        }
        var out: [String: Tensor] = [:]
        for name in requested ?? outputNames {
            switch values[name] {
            case .float(let t)?: out[name] = t
            case .integer(let a)?: out[name] = a.asTensor()
            case nil: throw ONNXError("\(source): output '\(name)' was not computed")
            }
        }
        return out
    }

    /// One node on each image of a batch the graph was exported without: batched inputs are
    /// sliced to [1, ...], float results concatenated back; shape arithmetic (integers) is the
    /// same for every image and taken from the first.
    private func perImage(_ step: Step, _ arguments: [ONNXValue?], batch: Int, batched: Set<String>) throws -> [ONNXValue] {
        var perImage: [[ONNXValue]] = []
        for b in 0..<batch {
            let slice = zip(step.inputs, arguments).map { name, value -> ONNXValue? in
                guard batched.contains(name), case .float(let t)? = value else { return value }
                return .float(t.slice(axis: 0, b..<(b + 1)))
            }
            perImage.append(try step.kernel(slice))
        }
        return perImage[0].indices.map { k in
            guard case .float = perImage[0][k] else { return perImage[0][k] }
            return .float(Tensor.concat(perImage.map { if case .float(let t) = $0[k] { t } else { Tensor(scalar: 0) } }, axis: 0))
        }
    }

    /// ``forwardOutput`` for the first input (a classifier's logits). `x` is NCHW; with
    /// ``channelsLastInput`` it is permuted to NHWC first.
    ///
    /// Module's forward cannot throw: shapes are checked when a model is loaded (a dry run at
    /// its input size), and a graph that still fails ends the process with its one-line error.
    public override func forward(_ x: Tensor) -> Tensor {
        let ordered = reversesInputChannels ? x.reversed(axis: 1) : x
        let input = channelsLastInput ? ordered.permuted([0, 2, 3, 1]) : ordered
        do {
            return try run([inputs[0].name: input], outputs: [forwardOutput])[forwardOutput] ?? input        // nil: a truncated pass
        } catch {
            fputs("fovea: error: \(error)\n", stderr)
            exit(1)
        }
    }

    /// A tensor a model file keeps in an external data file.
    public struct ExternalTensor: Sendable {
        public let name: String
        public let shape: [Int]
        /// ONNX element type code (1: float32, 7: int64, ...).
        public let dataType: Int32
        public let location: String
        public let offset: Int
        public let length: Int?
    }

    /// The initializers of the model file at `url` whose data lives in external files.
    public static func externalTensors(of url: URL) throws -> [ExternalTensor] {
        let model: Onnx_ModelProto
        do { model = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: url)) } catch {
            throw ONNXError("\(url.path): not an ONNX model (\(error))")
        }
        return model.graph.initializer.compactMap { t in
            var fields: [String: String] = [:]
            for e in t.externalData { fields[e.key] = e.value }
            guard let location = fields["location"] else { return nil }
            return ExternalTensor(name: t.name, shape: t.dims.map { Int(clamping: $0) }, dataType: t.dataType, location: location,
                                  offset: Int(fields["offset"] ?? "0") ?? 0, length: fields["length"].flatMap { Int($0) })
        }
    }

    /// The layer names: every computing node's first output, in graph order.
    public var layerNames: [String] { children.map(\.name) }
}

extension ONNXGraph {
    /// The floating-point initializers of the model file at `url` by name, without building the
    /// graph (for weights that a native module takes over, such as ``vgg16-features``).
    public static func floatInitializers(of url: URL) throws -> [String: Tensor] {
        let model: Onnx_ModelProto
        do { model = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: url)) } catch {
            throw ONNXError("\(url.path): not an ONNX model (\(error))")
        }
        let external = ExternalDataReader(directory: url.deletingLastPathComponent())
        var out: [String: Tensor] = [:]
        for initializer in model.graph.initializer {
            let value = try initializer.value(context: "\(url.path): initializer '\(initializer.name)'", external: external)
            if case .float(let t) = value { out[initializer.name] = t }
        }
        return out
    }
}

import Foundation
import FoveaModels
import FoveaNN
import FoveaONNX
import FoveaTensor

/// How to feed an imported model: what its file does not say.
public struct ImportOptions: Sendable {
    /// Input height and width (a model with a fixed input size must agree).
    public var inputSize: Int?
    /// Per-channel mean and std on the 0...1 pixel scale (one value or one per channel);
    /// default: ImageNet's 0.485/0.456/0.406 and 0.229/0.224/0.225.
    public var mean: [Float]?
    public var std: [Float]?

    public init(inputSize: Int? = nil, mean: [Float]? = nil, std: [Float]? = nil) {
        self.inputSize = inputSize
        self.mean = mean
        self.std = std
    }
}

extension ImageClassifier {
    /// An image classifier from a model file: ONNX (`.onnx`) or Keras HDF5 (`.h5`), told apart by
    /// content. The graph is checked by a dry run at its input size, so a model that loads runs.
    /// Layers are named as in the file (ONNX: node output names).
    public static func load(modelFile url: URL, options: ImportOptions = ImportOptions(),
                            workspace: Workspace = Workspace()) throws -> ImageClassifier {
        guard FileManager.default.fileExists(atPath: url.path) else { throw FoveaError("\(url.path): model file not found") }
        let graph = try ONNXGraph(contentsOf: url)
        return try classifier(onnx: graph, name: url.lastPathComponent, options: options, workspace: workspace)
    }

    static func classifier(onnx graph: ONNXGraph, name: String, options: ImportOptions, workspace: Workspace) throws -> ImageClassifier {
        let file = graph.source
        guard graph.inputs.count == 1, let input = graph.inputs.first else {
            throw FoveaError("\(file): the graph has \(graph.inputs.count) inputs (\(graph.inputs.map(\.name).joined(separator: ", "))); an image classifier has one")
        }
        guard input.shape.count == 4 else {
            throw FoveaError("\(file): input '\(input.name)' has rank \(input.shape.count); an image classifier takes N x C x H x W (or N x H x W x C)")
        }
        // Channels first unless only the last axis looks like channels (TensorFlow exports).
        let channelsLast = !(input.shape[1].map { [1, 3].contains($0) } ?? false) && (input.shape[3].map { [1, 3].contains($0) } ?? false)
        graph.channelsLastInput = channelsLast
        let channels = (channelsLast ? input.shape[3] : input.shape[1]) ?? 3
        let declared = channelsLast ? (input.shape[1], input.shape[2]) : (input.shape[2], input.shape[3])
        if let h = declared.0, let w = declared.1, h != w {
            throw FoveaError("\(file): the input is \(h)x\(w); Fovea's preprocessing makes square inputs only")
        }
        if let fixed = declared.0 ?? declared.1, let asked = options.inputSize, asked != fixed {
            throw FoveaError("--input-size \(asked): \(file) takes \(fixed)x\(fixed) inputs")
        }
        let size = declared.0 ?? declared.1 ?? options.inputSize ?? 224
        func perChannel(_ values: [Float]?, _ fallback: [Float], _ option: String) throws -> [Float] {
            guard let values else { return channels == 3 ? fallback : [fallback.reduce(0, +) / 3] }
            if values.count == 1 { return [Float](repeating: values[0], count: channels) }
            guard values.count == channels else { throw FoveaError("\(option): \(values.count) values for a \(channels)-channel input") }
            return values
        }
        let mean = try perChannel(options.mean, [0.485, 0.456, 0.406], "--mean").map { $0 * 255 }
        let std = try perChannel(options.std, [0.229, 0.224, 0.225], "--std").map { $0 * 255 }
        guard std.allSatisfy({ $0 > 0 }) else { throw FoveaError("--std: values must be positive") }
        let preprocessing = Preprocessing(inputSize: size, crop: .resizeThenCenter(resize: size * 256 / 224),
                                          mean: mean, std: std, channels: channels)

        // Dry run: shapes and operators are checked here, with errors that name the node.
        let probe = Tensor(zeros: channelsLast ? [1, size, size, channels] : [1, channels, size, size])
        let out = try withNoGrad { try graph.run([input.name: probe]) }[graph.outputNames[0]]!
        guard out.rank == 2, out.shape[0] == 1 else {
            throw FoveaError("\(file): output '\(graph.outputNames[0])' has shape \(out.shape); an image classifier gives [N, classes]")
        }
        graph.eval()
        graph.setRequiresGrad(false)
        let shapes = graph.layerShapes(input: [1, channels, size, size])
        let camLayer = shapes.last { $0.shape.count == 4 && $0.shape[2] > 1 && $0.shape[3] > 1 }?.path ?? shapes.last?.path ?? ""
        nonisolated(unsafe) let module = graph
        let spec = ModelSpec(name: name, summary: "ONNX graph, opset \(graph.opset), \(graph.nodeCount) nodes",
                             preprocessing: preprocessing, classifier: shapes.last?.path ?? "", camLayer: camLayer,
                             defaultWeights: nil, build: { module })
        let classes = out.shape[1]
        let labels = classes == 1000 ? ((try? Labels(imageNetFile: workspace.imageNetLabels)) ?? Labels(names: (0..<classes).map { "class \($0)" }))
                                     : Labels(names: (0..<classes).map { "class \($0)" })
        return ImageClassifier(spec: spec, module: graph, labels: labels)
    }
}

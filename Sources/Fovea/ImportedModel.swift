import Foundation
import FoveaIO
import FoveaModels
import FoveaNN
import FoveaKeras
import FoveaONNX
import FoveaTensor

/// How to feed an imported model: what its file does not say.
public struct ImportOptions: Sendable {
    /// Input height and width (a model with a fixed input size must agree).
    public var inputSize: Int?
    /// Per-channel mean and std on the 0...1 pixel scale (one value or one per channel);
    /// default for ONNX: ImageNet's 0.485/0.456/0.406 and 0.229/0.224/0.225; for Keras: raw
    /// 0...255 pixels (mean 0, std 1/255).
    public var mean: [Float]?
    public var std: [Float]?
    /// Class names, one per output.
    public var labels: [String]?
    /// The model takes BGR channels (Caffe, OpenCV): Fovea reverses its RGB input, and `mean`
    /// and `std` are read in the model's (BGR) order.
    public var bgr = false
    /// The pixel scale `mean` and `std` are given on: 1 (0...1 pixels) or 255 (0...255 pixels).
    public var pixelScale: Float = 1

    public init(inputSize: Int? = nil, mean: [Float]? = nil, std: [Float]? = nil, labels: [String]? = nil,
                bgr: Bool = false, pixelScale: Float = 1) {
        self.inputSize = inputSize
        self.mean = mean
        self.std = std
        self.labels = labels
        self.bgr = bgr
        self.pixelScale = pixelScale
    }

    /// The square input size: the file's (height, width) when fixed, else `inputSize`, else 224.
    func inputSize(declared: (Int?, Int?), file: String) throws -> Int {
        if let h = declared.0, let w = declared.1, h != w {
            throw FoveaError("\(file): the input is \(h)x\(w); Fovea's preprocessing makes square inputs only")
        }
        let fixed = declared.0 ?? declared.1
        if let fixed, fixed > 4096 { throw FoveaError("\(file): the input is \(fixed)x\(fixed); Fovea handles inputs up to 4096x4096") }
        if let fixed, let asked = inputSize, asked != fixed {
            throw FoveaError("--input-size \(asked): \(file) takes \(fixed)x\(fixed) inputs")
        }
        return fixed ?? inputSize ?? 224
    }

    /// Mean and std per channel on the 0...255 scale, in RGB order (the order Fovea's
    /// preprocessing works in; a BGR model reverses its input after it).
    func normalization(channels: Int, defaultMean: [Float], defaultStd: [Float]) throws -> (mean: [Float], std: [Float]) {
        guard pixelScale == 1 || pixelScale == 255 else { throw FoveaError("--pixel-scale \(pixelScale): must be 1 or 255") }
        func perChannel(_ values: [Float]?, _ fallback: [Float], _ option: String) throws -> [Float] {
            guard let values else {
                let v = channels == fallback.count ? fallback : [Float](repeating: fallback.reduce(0, +) / Float(fallback.count), count: channels)
                return v.map { $0 * 255 }
            }
            if values.count == 1 { return [Float](repeating: values[0] * 255 / pixelScale, count: channels) }
            guard values.count == channels else { throw FoveaError("\(option): \(values.count) values for a \(channels)-channel input") }
            return (bgr ? values.reversed() : values).map { $0 * 255 / pixelScale }
        }
        let m = try perChannel(mean, defaultMean, "--mean")
        let s = try perChannel(std, defaultStd, "--std")
        guard s.allSatisfy({ $0 > 0 }) else { throw FoveaError("--std: values must be positive") }
        return (m, s)
    }

    func labels(classes: Int, imageNet: URL) throws -> Labels {
        if let labels {
            guard labels.count == classes else { throw FoveaError("--class-names: \(labels.count) names for a model with \(classes) outputs") }
            return Labels(names: labels)
        }
        if classes == 1000, let names = try? Labels(imageNetFile: imageNet) { return names }
        return Labels(names: (0..<classes).map { "class \($0)" })
    }
}

extension ImageClassifier {
    /// Whether the model takes BGR and reverses its RGB input (`--channel-order bgr`).
    public var reversesInputChannels: Bool {
        (module as? ONNXGraph)?.reversesInputChannels ?? (module as? KerasModel)?.reversesInputChannels ?? false
    }

    /// An image classifier from a model file: ONNX (`.onnx`), Keras HDF5 (`.h5`) or a Keras 3
    /// archive (`.keras`), told apart by content. The graph is checked at load (ONNX: a dry run
    /// at its input size; Keras: shape inference through the layers), so a model that loads runs. Layers are named as in the
    /// file: ONNX node output names, Keras layer names.
    public static func load(modelFile url: URL, options: ImportOptions = ImportOptions(),
                            workspace: Workspace = Workspace()) throws -> ImageClassifier {
        do { try InputFile.check(url.path, role: "model file") } catch { throw FoveaError("\(error)") }
        let head = InputFile.head(url, 8)
        let kerasArchive = head.starts(with: [0x50, 0x4B, 0x03, 0x04]) && ((try? ZipFile.names(of: url))?.contains("config.json") ?? false)
        if head == Data([0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]) || kerasArchive {          // "\x89HDF\r\n\x1a\n", or a zip
            return try classifier(keras: try KerasModel(contentsOf: url), name: url.lastPathComponent, options: options, workspace: workspace)
        }
        return try classifier(onnx: try parseONNX(url, head: head), name: url.lastPathComponent, options: options, workspace: workspace)
    }

    /// The ONNX graph of a model file, or an error that names the formats Fovea reads.
    public static func onnxGraph(_ url: URL) throws -> ONNXGraph {
        do { try InputFile.check(url.path, role: "model file") } catch { throw FoveaError("\(error)") }
        return try parseONNX(url, head: InputFile.head(url, 8))
    }

    /// ``onnxGraph(_:)`` of a file already checked, whose first bytes are `head`.
    private static func parseONNX(_ url: URL, head: Data) throws -> ONNXGraph {
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) {                                     // zip
            throw FoveaError("\(url.path): a zip archive that is not a Keras 3 model (a PyTorch checkpoint?); --model-file reads ONNX (.onnx) and Keras (.h5, .keras) models; PyTorch checkpoints go with --model NAME --weights FILE")
        }
        guard !head.isEmpty else { throw FoveaError("\(url.path): the file is empty; --model-file reads ONNX (.onnx) and Keras (.h5, .keras) models") }
        do {
            return try ONNXGraph(contentsOf: url)
        } catch let error as ONNXError where "\(error)".contains("protobuf decoding failed") {
            throw FoveaError("\(url.path): not an ONNX model (protobuf decoding failed: damaged, truncated or another format) and not a Keras HDF5 file; --model-file reads ONNX (.onnx) and Keras (.h5, .keras) models")
        }
    }

    static func classifier(keras model: KerasModel, name: String, options: ImportOptions, workspace: Workspace) throws -> ImageClassifier {
        let file = model.source
        let channels = model.inputShape.channels ?? 3
        let size = try options.inputSize(declared: (model.inputShape.height, model.inputShape.width), file: file)
        guard [1, 3].contains(channels) else { throw FoveaError("\(file): \(channels)-channel input; images have 1 or 3") }
        let (mean, std) = try options.normalization(channels: channels, defaultMean: [0], defaultStd: [1 / 255])
        let preprocessing = Preprocessing(inputSize: size, crop: .resize, mean: mean, std: std, channels: channels)
        model.eval()
        model.setRequiresGrad(false)
        model.reversesInputChannels = options.bgr && channels == 3
        let shapes = model.layerShapes(input: [1, channels, size, size])
        guard let out = shapes.last, out.shape.count == 2 else {
            throw FoveaError("\(file): the model does not output a vector of class scores")
        }
        let camLayer = model.classifierHead?.pooled ?? lastSpatialLayer(shapes) ?? out.path
        nonisolated(unsafe) let module = model
        var spec = ModelSpec(name: name, summary: "Keras \(model.architecture), \(model.layerNames.count) layers",
                             preprocessing: preprocessing, classifier: out.path, camLayer: camLayer,
                             defaultWeights: nil, build: { module })
        if let head = model.classifierHead, let pooled = head.pooled {
            spec.pooledFeatures = pooled
            spec.classifierWeight = head.weight
        }
        spec.importNotes = Self.preprocessingNotes(options, preprocessing)
        if model.droppedFinalSoftmax { spec.importNotes.insert("the final softmax is left out: Fovea reads the logits before it", at: 0) }
        return ImageClassifier(spec: spec, module: model, labels: try options.labels(classes: out.shape[1], imageNet: workspace.imageNetLabels))
    }

    /// How inputs are prepared, in words, for `fovea layers`.
    static func preprocessingNotes(_ options: ImportOptions, _ p: Preprocessing) -> [String] {
        func list(_ v: [Float]) -> String { v.map { String(format: "%g", $0) }.joined(separator: ",") }
        let order = options.bgr && p.channels == 3 ? "BGR (reversed from RGB)" : (p.channels == 1 ? "grayscale" : "RGB")
        return ["input: \(order), (pixel - mean) / std on 0..255 pixels with mean \(list(p.mean)) and std \(list(p.std)) (RGB order)"]
    }

    /// The default Grad-CAM layer of an imported model: the last with an N x C x H x W output
    /// larger than 1 x 1.
    static func lastSpatialLayer(_ shapes: [(path: String, shape: [Int])]) -> String? {
        shapes.last { $0.shape.count == 4 && $0.shape[2] > 1 && $0.shape[3] > 1 }?.path
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
        let size = try options.inputSize(declared: declared, file: file)
        let (mean, std) = try options.normalization(channels: channels, defaultMean: [0.485, 0.456, 0.406], defaultStd: [0.229, 0.224, 0.225])
        let preprocessing = Preprocessing(inputSize: size, crop: .resizeThenCenter(resize: size * 256 / 224),
                                          mean: mean, std: std, channels: channels)

        // The logits before a final Softmax/LogSoftmax, the linear head and its pooling.
        let head = graph.classifierHead()
        graph.forwardOutput = head.logits
        graph.reversesInputChannels = options.bgr && channels == 3

        // Dry run: shapes and operators are checked here, with errors that name the node.
        let probe = Tensor(zeros: channelsLast ? [1, size, size, channels] : [1, channels, size, size])
        let out = try withNoGrad { try graph.run([input.name: probe], outputs: [head.logits]) }[head.logits]!
        guard out.rank == 2, out.shape[0] == 1 else {
            throw FoveaError("\(file): output '\(graph.outputNames[0])' has shape \(out.shape); an image classifier gives [N, classes]")
        }
        graph.eval()
        graph.setRequiresGrad(false)
        let shapes = graph.layerShapes(input: [1, channels, size, size])
        // CAM and friends need channels on axis 1: NCHW values, or channels-last ones (shown as NCHW).
        let spatial = shapes.filter { graph.layout(of: $0.path).map { $0 != .unknown } ?? false }
        let camLayer = head.pooled ?? lastSpatialLayer(spatial) ?? shapes.last?.path ?? ""
        nonisolated(unsafe) let module = graph
        var spec = ModelSpec(name: name, summary: "ONNX graph, opset \(graph.opset), \(graph.nodeCount) nodes",
                             preprocessing: preprocessing, classifier: head.linear ?? head.logits, camLayer: camLayer,
                             defaultWeights: nil, build: { module })
        if let pooled = head.pooled, let weight = head.weight, weight.shape[0] == out.shape[1] {
            spec.pooledFeatures = pooled
            spec.classifierWeight = weight
        }
        spec.featuresLayer = head.features.flatMap { graph.layerNames.contains($0) ? $0 : nil }
        if let activation = head.finalActivation {
            spec.importNotes.append("the graph ends in \(activation): Fovea reads the logits before it ('\(head.logits)')")
        }
        if channelsLast { spec.importNotes.append("the graph takes channels-last (NHWC) input; channels-last layers are shown as N x C x H x W") }
        if input.shape.first == 1 { spec.importNotes.append("the graph was exported for a batch of 1: batches run one image at a time") }
        spec.importNotes += Self.preprocessingNotes(options, preprocessing)
        return ImageClassifier(spec: spec, module: graph, labels: try options.labels(classes: out.shape[1], imageNet: workspace.imageNetLabels))
    }
}

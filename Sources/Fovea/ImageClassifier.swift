import Foundation
import FoveaIO
import FoveaModels
import FoveaNN
import FoveaONNX
import FoveaTensor

/// A model with its weights, labels and preprocessing: what every technique works on.
///
/// ```swift
/// let classifier = try ImageClassifier.load("efficientnet-lite0")
/// let (crop, x) = try classifier.input(from: "chelsea.png")
/// let top = classifier.predict(x).top(3)
/// ```
public final class ImageClassifier {
    public let spec: ModelSpec
    public let module: Module
    public let labels: Labels

    public init(spec: ModelSpec, module: Module, labels: Labels) {
        self.spec = spec
        self.module = module
        self.labels = labels
    }

    /// Builds model `name` and loads its weights (strictly): `weights` if given, else the model's
    /// fetched default; a model without a default and no `weights` keeps its random
    /// initialisation (seeded, so reproducible). The model is in eval mode with its parameters
    /// frozen (gradients flow to the input only).
    public static func load(_ name: String, weights: URL? = nil, workspace: Workspace = Workspace()) throws -> ImageClassifier {
        guard let spec = ModelSpec.named(name) else {
            throw FoveaError("--model \(name): unknown model; available: \(ModelSpec.all.map(\.name).joined(separator: ", "))")
        }
        let file = try weights ?? spec.defaultWeights.map { try workspace.defaultWeights(for: $0) }
        // The weights are read before the module is built: the file's bytes are gone by then, so
        // at most two copies of the weights are resident at once (VGG-16: 1.06 GB, not 1.58).
        var state: [String: Tensor]?
        if let file {
            do { try InputFile.check(file.path, role: "weights file") } catch { throw FoveaError("\(error)") }
            var loaded = try loadWeights(file)
            if let convert = spec.convertWeights { loaded = convert(loaded) }
            state = loaded.filter { key, _ in !spec.ignoredKeyPrefixes.contains { key.hasPrefix($0) } }
        }
        let module = spec.build()
        if let file, let state {
            do {
                try module.loadStateDict(state)
            } catch let error as StateDictError {
                throw FoveaError("\(file.path): does not fit \(spec.name): \(error)")
            }
        }
        module.eval()
        module.setRequiresGrad(false)
        let labels = spec.classNames.map { Labels(names: $0) }
            ?? (try? Labels(imageNetFile: workspace.imageNetLabels))
            ?? Labels(names: (0..<1000).map { "class \($0)" })
        return ImageClassifier(spec: spec, module: module, labels: labels)
    }

    /// Reads a `.pth`/`.pt` checkpoint or a `.safetensors` file (by content, not name), or the
    /// float initializers of an `.onnx` file.
    public static func loadWeights(_ url: URL) throws -> [String: Tensor] {
        if url.pathExtension.lowercased() == "onnx" { return try ONNXGraph.floatInitializers(of: url) }
        let head = (try? FileHandle(forReadingFrom: url).readData(ofLength: 9)) ?? Data()
        // safetensors: 8-byte header length then '{'.
        if head.count == 9, head[8] == UInt8(ascii: "{") { return try Safetensors.load(url) }
        return try TorchCheckpoint.load(url)
    }

    public var preprocessing: Preprocessing { spec.preprocessing }

    /// The crop the network sees and its normalised 1 x C x H x W tensor, of an image file or a
    /// dataset image (`fashion-mnist:test#42`, see ``loadImage(_:)``).
    public func input(from path: String, crop mode: CropMode = .center) throws -> (crop: Image, tensor: Tensor) {
        let image = try loadImage(path)
        let crop = preprocessing.crop(image, mode: mode)
        return (crop, preprocessing.normalize(crop))
    }

    /// Normalised model inputs of dataset images `indices`, [B, C, H, W].
    public func inputs(_ dataset: any ImageDataset, _ indices: some Collection<Int>, crop mode: CropMode = .center) throws -> Tensor {
        Tensor.concat(try indices.map { preprocessing.normalize(preprocessing.crop(try dataset.image(at: $0), mode: mode)) }, axis: 0)
    }

    /// Logits [N, classes] (no gradient recording).
    public func logits(_ x: Tensor) -> Tensor { withNoGrad { module(x) } }

    /// Class probabilities of the first image of the batch.
    public func predict(_ x: Tensor) -> Prediction {
        Prediction(probabilities: logits(x).softmax(axis: 1).slice(axis: 0, 0..<1).scalars, labels: labels)
    }
}

/// Class probabilities with their labels.
public struct Prediction: Sendable {
    public let probabilities: [Float]
    public let labels: Labels

    public struct Entry: Sendable, Codable, Equatable {
        public let index: Int
        public let label: String
        public let probability: Float
    }

    /// The k most probable classes, most probable first.
    public func top(_ k: Int) -> [Entry] {
        probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(k).map {
            Entry(index: $0, label: labels.names.indices.contains($0) ? labels.names[$0] : "class \($0)",
                  probability: probabilities[$0])
        }
    }
}

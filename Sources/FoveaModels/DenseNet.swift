import FoveaNN
import FoveaTensor

/// DenseNet-121 in torchvision's layout (growth 32, blocks 6/12/24/16, bottleneck 4 x 32):
/// `features` (conv0 7x7/2 3->64, norm0, relu0, pool0 max 3/2 pad 1, denseblock1..4 with
/// transition1..3 between them, norm5), then ReLU, global average pooling (functions, as in
/// torchvision) and `classifier` (Linear 1024->classes). Convolutions have no bias; BN eps 1e-5.
public final class DenseNet: Module {
    let features: NamedSequential, classifier: Linear

    public init(growth: Int = 32, blocks: [Int] = [6, 12, 24, 16], initialFeatures: Int = 64, bottleneck: Int = 4,
                classes: Int = 1000) {
        var layers: [(String, Module)] = [
            ("conv0", Conv2d(3, initialFeatures, kernel: 7, stride: 2, padding: .symmetric(3), bias: false)),
            ("norm0", BatchNorm2d(initialFeatures)), ("relu0", Activation(.relu)),
            ("pool0", MaxPool2d(kernel: 3, stride: 2, padding: 1)),
        ]
        var channels = initialFeatures
        for (b, count) in blocks.enumerated() {
            layers.append(("denseblock\(b + 1)", DenseBlock(channels, layers: count, growth: growth, bottleneck: bottleneck)))
            channels += count * growth
            if b < blocks.count - 1 {
                layers.append(("transition\(b + 1)", NamedSequential([
                    ("norm", BatchNorm2d(channels)), ("relu", Activation(.relu)),
                    ("conv", Conv2d(channels, channels / 2, kernel: 1, bias: false)), ("pool", AvgPool2d(kernel: 2, stride: 2)),
                ])))
                channels /= 2
            }
        }
        layers.append(("norm5", BatchNorm2d(channels)))
        features = NamedSequential(layers)
        classifier = Linear(channels, classes)
        super.init()
        registerChild("features", features)
        registerChild("classifier", classifier)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        classifier(features(x).relu().adaptiveAvgPool2d(height: 1, width: 1).flattened(from: 1))
    }
}

/// A dense block: `denselayer1...N`, each reading the concatenation of the block input and
/// every earlier layer's output and adding `growth` channels.
final class DenseBlock: Module {
    let layers: [DenseLayer]

    init(_ inChannels: Int, layers count: Int, growth: Int, bottleneck: Int) {
        layers = (0..<count).map { DenseLayer(inChannels + $0 * growth, growth: growth, bottleneck: bottleneck) }
        super.init()
        for (i, layer) in layers.enumerated() { registerChild("denselayer\(i + 1)", layer) }
    }

    override func forward(_ x: Tensor) -> Tensor {
        var features = [x]
        for layer in layers { features.append(layer(Tensor.concat(features, axis: 1))) }
        return Tensor.concat(features, axis: 1)
    }
}

/// norm1, relu1, conv1 1x1 (-> bottleneck x growth), norm2, relu2, conv2 3x3 (-> growth).
final class DenseLayer: Module {
    let norm1: BatchNorm2d, conv1: Conv2d, norm2: BatchNorm2d, conv2: Conv2d
    let relu1 = Activation(.relu), relu2 = Activation(.relu)

    init(_ inChannels: Int, growth: Int, bottleneck: Int) {
        norm1 = BatchNorm2d(inChannels)
        conv1 = Conv2d(inChannels, bottleneck * growth, kernel: 1, bias: false)
        norm2 = BatchNorm2d(bottleneck * growth)
        conv2 = Conv2d(bottleneck * growth, growth, kernel: 3, padding: .symmetric(1), bias: false)
        super.init()
        registerChild("norm1", norm1); registerChild("relu1", relu1); registerChild("conv1", conv1)
        registerChild("norm2", norm2); registerChild("relu2", relu2); registerChild("conv2", conv2)
    }

    override func forward(_ x: Tensor) -> Tensor { conv2(relu2(norm2(conv1(relu1(norm1(x)))))) }
}

import FoveaNN
import FoveaTensor

/// ResNet in torchvision's layout (v1.5: the stride sits on the 3x3 conv of a bottleneck):
/// `conv1` 7x7/2, `bn1`, `relu`, `maxpool` 3x3/2, `layer1`...`layer4`, `avgpool`, `fc`.
public final class ResNet: Module {
    /// Model name -> (blocks per stage, bottleneck).
    public static let configs: [(String, (blocks: [Int], bottleneck: Bool))] = [
        ("resnet18", ([2, 2, 2, 2], false)), ("resnet34", ([3, 4, 6, 3], false)),
        ("resnet50", ([3, 4, 6, 3], true)), ("resnet101", ([3, 4, 23, 3], true)),
        ("resnet152", ([3, 8, 36, 3], true)),
    ]

    let conv1: Conv2d, bn1: BatchNorm2d, relu: Activation, maxpool: MaxPool2d
    let layers: [Sequential]
    let avgpool: AdaptiveAvgPool2d, fc: Linear

    public init?(_ name: String, classes: Int = 1000) {
        guard let config = Self.configs.first(where: { $0.0 == name })?.1 else { return nil }
        let expansion = config.bottleneck ? 4 : 1
        conv1 = Conv2d(3, 64, kernel: 7, stride: 2, padding: .symmetric(3), bias: false)
        bn1 = BatchNorm2d(64)
        relu = Activation(.relu)
        maxpool = MaxPool2d(kernel: 3, stride: 2, padding: 1)
        var inChannels = 64
        var stages: [Sequential] = []
        for (i, count) in config.blocks.enumerated() {
            let width = 64 << i
            var blocks: [Module] = []
            for b in 0..<count {
                let stride = (b == 0 && i > 0) ? 2 : 1
                blocks.append(config.bottleneck
                    ? Bottleneck(inChannels, width, stride: stride)
                    : BasicBlock(inChannels, width, stride: stride))
                inChannels = width * expansion
            }
            stages.append(Sequential(blocks))
        }
        layers = stages
        avgpool = AdaptiveAvgPool2d(1, 1)
        fc = Linear(512 * expansion, classes)
        super.init()
        registerChild("conv1", conv1)
        registerChild("bn1", bn1)
        registerChild("relu", relu)
        registerChild("maxpool", maxpool)
        for (i, l) in layers.enumerated() { registerChild("layer\(i + 1)", l) }
        registerChild("avgpool", avgpool)
        registerChild("fc", fc)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        fc(features(afterPool: bn1(conv1(x), then: relu, pooling: maxpool)))
    }

    /// Max pool, the four stages and the average pooling, [N, 512 * expansion], from the stem's
    /// ReLU output.
    func features(afterStemActivation x: Tensor) -> Tensor { features(afterPool: maxpool(x)) }

    /// The four stages and the average pooling from the stem's max pool output.
    func features(afterPool x: Tensor) -> Tensor {
        var h = x
        for l in layers { h = l(h) }
        return avgpool(h).flattened(from: 1)
    }

    /// 1x1 conv + BN projection for the shortcut when shape changes.
    static func downsample(_ inChannels: Int, _ outChannels: Int, stride: Int) -> Sequential? {
        guard stride != 1 || inChannels != outChannels else { return nil }
        return Sequential([Conv2d(inChannels, outChannels, kernel: 1, stride: stride, bias: false), BatchNorm2d(outChannels)])
    }
}

extension ResNet: AffineStem {
    public var stemLayers: [Module] { [conv1, bn1] }
    public func stem(_ x: Tensor) -> Tensor { bn1(conv1(x)) }
    public func features(afterStem h: Tensor) -> Tensor { features(afterStemActivation: relu(h)) }
    public var classifier: Linear { fc }
}

/// conv3x3/s, BN, ReLU, conv3x3, BN, + shortcut, ReLU.
public final class BasicBlock: Module {
    let conv1: Conv2d, bn1: BatchNorm2d, relu: Activation, conv2: Conv2d, bn2: BatchNorm2d
    let downsample: Sequential?

    init(_ inChannels: Int, _ width: Int, stride: Int) {
        conv1 = Conv2d(inChannels, width, kernel: 3, stride: stride, padding: .symmetric(1), bias: false)
        bn1 = BatchNorm2d(width)
        relu = Activation(.relu)
        conv2 = Conv2d(width, width, kernel: 3, padding: .symmetric(1), bias: false)
        bn2 = BatchNorm2d(width)
        downsample = ResNet.downsample(inChannels, width, stride: stride)
        super.init()
        registerChild("conv1", conv1); registerChild("bn1", bn1); registerChild("relu", relu)
        registerChild("conv2", conv2); registerChild("bn2", bn2)
        if let downsample { registerChild("downsample", downsample) }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let h = conv2(bn1(conv1(x), then: relu))
        return bn2(h, adding: downsample?(x) ?? x, then: relu)
    }
}

/// conv1x1, BN, ReLU, conv3x3/s, BN, ReLU, conv1x1 (x4), BN, + shortcut, ReLU.
public final class Bottleneck: Module {
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d, conv3: Conv2d, bn3: BatchNorm2d
    let relu: Activation, downsample: Sequential?

    init(_ inChannels: Int, _ width: Int, stride: Int) {
        conv1 = Conv2d(inChannels, width, kernel: 1, bias: false)
        bn1 = BatchNorm2d(width)
        conv2 = Conv2d(width, width, kernel: 3, stride: stride, padding: .symmetric(1), bias: false)
        bn2 = BatchNorm2d(width)
        conv3 = Conv2d(width, width * 4, kernel: 1, bias: false)
        bn3 = BatchNorm2d(width * 4)
        relu = Activation(.relu)
        downsample = ResNet.downsample(inChannels, width * 4, stride: stride)
        super.init()
        registerChild("conv1", conv1); registerChild("bn1", bn1)
        registerChild("conv2", conv2); registerChild("bn2", bn2)
        registerChild("conv3", conv3); registerChild("bn3", bn3)
        registerChild("relu", relu)
        if let downsample { registerChild("downsample", downsample) }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        var h = bn1(conv1(x), then: relu)
        h = bn2(conv2(h), then: relu)
        return bn3(conv3(h), adding: downsample?(x) ?? x, then: relu)
    }
}

import FoveaNN
import FoveaTensor

/// MobileNetV2 in torchvision's layout: `features.0` conv 3x3/2 3->32 + BN + ReLU6, 17 inverted
/// residual blocks (`features.N.conv`), `features.18` 1x1 conv 320->1280 + BN + ReLU6, global
/// average pooling (a function, as in torchvision, so no layer of its own), `classifier`
/// (Dropout 0.2, Linear 1280->classes). Convolutions use symmetric padding k/2; BN eps 1e-5.
public final class MobileNetV2: Module {
    /// (expansion t, output channels c, repeats n, first stride s) per stage.
    static let stages: [(t: Int, c: Int, n: Int, s: Int)] = [
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ]
    let features: Sequential, classifier: Sequential

    public init(classes: Int = 1000) {
        var layers: [Module] = [Self.convBNReLU6(3, 32, kernel: 3, stride: 2)]
        var channels = 32
        for stage in Self.stages {
            for i in 0..<stage.n {
                layers.append(InvertedResidual(channels, stage.c, stride: i == 0 ? stage.s : 1, expand: stage.t))
                channels = stage.c
            }
        }
        layers.append(Self.convBNReLU6(320, 1280, kernel: 1, stride: 1))
        features = Sequential(layers)
        classifier = Sequential([Dropout(0.2), Linear(1280, classes)])
        super.init()
        registerChild("features", features)
        registerChild("classifier", classifier)
    }

    /// torchvision's Conv2dNormActivation: conv (no bias, padding k/2), BN, ReLU6 as "0", "1", "2".
    static func convBNReLU6(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int, groups: Int = 1) -> Sequential {
        Sequential([Conv2d(inChannels, outChannels, kernel: kernel, stride: stride, padding: .symmetric(kernel / 2),
                           groups: groups, bias: false),
                    BatchNorm2d(outChannels), Activation(.relu6)])
    }

    public override func forward(_ x: Tensor) -> Tensor {
        classifier(features(x).adaptiveAvgPool2d(height: 1, width: 1).flattened(from: 1))
    }
}

/// torchvision's InvertedResidual: `conv` = [expand 1x1 conv-BN-ReLU6 (if t != 1)], depthwise
/// 3x3 conv-BN-ReLU6, project 1x1 conv, BN; plus the input when stride 1 and channels match.
public final class InvertedResidual: Module {
    let conv: Sequential
    let residual: Bool

    init(_ inChannels: Int, _ outChannels: Int, stride: Int, expand: Int) {
        let hidden = inChannels * expand
        var layers: [Module] = []
        if expand != 1 { layers.append(MobileNetV2.convBNReLU6(inChannels, hidden, kernel: 1, stride: 1)) }
        layers.append(MobileNetV2.convBNReLU6(hidden, hidden, kernel: 3, stride: stride, groups: hidden))
        layers.append(Conv2d(hidden, outChannels, kernel: 1, bias: false))
        layers.append(BatchNorm2d(outChannels))
        conv = Sequential(layers)
        residual = stride == 1 && inChannels == outChannels
        super.init()
        registerChild("conv", conv)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        residual ? x + conv(x) : conv(x)
    }
}

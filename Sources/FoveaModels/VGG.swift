import FoveaNN
import FoveaTensor

/// VGG in torchvision's layout: `features` (3x3 convs with padding 1, [BN,] ReLU, 2x2 max
/// pools), `avgpool` (adaptive 7x7), `classifier` (Linear 25088->4096, ReLU, Dropout,
/// Linear 4096->4096, ReLU, Dropout, Linear 4096->classes).
public final class VGG: Module {
    /// Channel plans (0 = max pool): torchvision's configurations A, B, D, E.
    static let plans: [String: [Int]] = [
        "A": [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        "B": [64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        "D": [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
        "E": [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0],
    ]
    /// Model name -> (plan, batch norm).
    public static let configs: [(String, (plan: String, batchNorm: Bool))] = [
        ("vgg11", ("A", false)), ("vgg11_bn", ("A", true)), ("vgg13", ("B", false)), ("vgg13_bn", ("B", true)),
        ("vgg16", ("D", false)), ("vgg16_bn", ("D", true)), ("vgg19", ("E", false)), ("vgg19_bn", ("E", true)),
    ]

    let features: Sequential, avgpool: AdaptiveAvgPool2d, classifier: Sequential

    /// Index in `features` of the last ReLU (before the final max pool), e.g. 29 for VGG-16.
    public static func lastActivationIndex(_ name: String) -> Int {
        guard let config = configs.first(where: { $0.0 == name })?.1, let plan = plans[config.plan] else { return 0 }
        // Each conv adds conv[, BN], ReLU; each pool one module. The last entry is a pool.
        let modules = plan.reduce(0) { $0 + ($1 == 0 ? 1 : (config.batchNorm ? 3 : 2)) }
        return modules - 2
    }

    public init?(_ name: String, classes: Int = 1000) {
        guard let config = Self.configs.first(where: { $0.0 == name })?.1, let plan = Self.plans[config.plan] else {
            return nil
        }
        var layers: [Module] = []
        var channels = 3
        for width in plan {
            if width == 0 { layers.append(MaxPool2d(kernel: 2, stride: 2)); continue }
            layers.append(Conv2d(channels, width, kernel: 3, padding: .symmetric(1)))
            if config.batchNorm { layers.append(BatchNorm2d(width)) }
            layers.append(Activation(.relu))
            channels = width
        }
        features = Sequential(layers)
        avgpool = AdaptiveAvgPool2d(7, 7)
        classifier = Sequential([
            Linear(512 * 7 * 7, 4096), Activation(.relu), Dropout(0.5),
            Linear(4096, 4096), Activation(.relu), Dropout(0.5),
            Linear(4096, classes),
        ])
        super.init()
        registerChild("features", features)
        registerChild("avgpool", avgpool)
        registerChild("classifier", classifier)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        classifier(avgpool(features(x)).flattened(from: 1))
    }
}

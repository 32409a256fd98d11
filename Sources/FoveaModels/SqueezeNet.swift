import FoveaNN
import FoveaTensor

/// SqueezeNet 1.0 and 1.1 in torchvision's layout: `features` (a stem conv, ReLU, 3x3/2 max
/// pools with ceil mode, Fire modules), `classifier` (Dropout, 1x1 conv 512->classes, ReLU,
/// adaptive average pool to 1x1).
public final class SqueezeNet: Module {
    public static let versions = ["squeezenet1_0", "squeezenet1_1"]
    let features: Sequential, classifier: Sequential

    public init?(_ name: String, classes: Int = 1000) {
        func pool() -> Module { MaxPool2d(kernel: 3, stride: 2, ceilMode: true) }
        let layers: [Module]
        switch name {
        case "squeezenet1_0":
            layers = [Conv2d(3, 96, kernel: 7, stride: 2), Activation(.relu), pool(),
                      Fire(96, 16, 64), Fire(128, 16, 64), Fire(128, 32, 128), pool(),
                      Fire(256, 32, 128), Fire(256, 48, 192), Fire(384, 48, 192), Fire(384, 64, 256), pool(),
                      Fire(512, 64, 256)]
        case "squeezenet1_1":
            layers = [Conv2d(3, 64, kernel: 3, stride: 2), Activation(.relu), pool(),
                      Fire(64, 16, 64), Fire(128, 16, 64), pool(),
                      Fire(128, 32, 128), Fire(256, 32, 128), pool(),
                      Fire(256, 48, 192), Fire(384, 48, 192), Fire(384, 64, 256), Fire(512, 64, 256)]
        default:
            return nil
        }
        features = Sequential(layers)
        classifier = Sequential([Dropout(0.5), Conv2d(512, classes, kernel: 1), Activation(.relu), AdaptiveAvgPool2d(1, 1)])
        super.init()
        registerChild("features", features)
        registerChild("classifier", classifier)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        classifier(features(x)).flattened(from: 1)
    }
}

/// Fire module: squeeze 1x1 + ReLU, then the concatenation of expand 1x1 + ReLU and expand
/// 3x3 (padding 1) + ReLU along channels.
public final class Fire: Module {
    let squeeze: Conv2d, squeezeActivation: Activation
    let expand1x1: Conv2d, expand1x1Activation: Activation
    let expand3x3: Conv2d, expand3x3Activation: Activation

    init(_ inChannels: Int, _ squeezeChannels: Int, _ expandChannels: Int) {
        squeeze = Conv2d(inChannels, squeezeChannels, kernel: 1)
        squeezeActivation = Activation(.relu)
        expand1x1 = Conv2d(squeezeChannels, expandChannels, kernel: 1)
        expand1x1Activation = Activation(.relu)
        expand3x3 = Conv2d(squeezeChannels, expandChannels, kernel: 3, padding: .symmetric(1))
        expand3x3Activation = Activation(.relu)
        super.init()
        registerChild("squeeze", squeeze)
        registerChild("squeeze_activation", squeezeActivation)
        registerChild("expand1x1", expand1x1)
        registerChild("expand1x1_activation", expand1x1Activation)
        registerChild("expand3x3", expand3x3)
        registerChild("expand3x3_activation", expand3x3Activation)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let s = squeezeActivation(squeeze(x))
        return Tensor.concat([expand1x1Activation(expand1x1(s)), expand3x3Activation(expand3x3(s))], axis: 1)
    }
}

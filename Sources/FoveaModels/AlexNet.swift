import FoveaNN
import FoveaTensor

/// AlexNet in torchvision's layout: `features` (conv 11x11/4 64, ReLU, max 3/2, conv 5x5 192,
/// ReLU, max, conv 3x3 384, ReLU, conv 256, ReLU, conv 256, ReLU, max), `avgpool` (adaptive
/// 6x6), `classifier` (Dropout, Linear 9216->4096, ReLU, Dropout, Linear 4096->4096, ReLU,
/// Linear 4096->classes).
public final class AlexNet: Module {
    let features: Sequential, avgpool: AdaptiveAvgPool2d, classifier: Sequential

    public init(classes: Int = 1000) {
        features = Sequential([
            Conv2d(3, 64, kernel: 11, stride: 4, padding: .symmetric(2)), Activation(.relu), MaxPool2d(kernel: 3, stride: 2),
            Conv2d(64, 192, kernel: 5, padding: .symmetric(2)), Activation(.relu), MaxPool2d(kernel: 3, stride: 2),
            Conv2d(192, 384, kernel: 3, padding: .symmetric(1)), Activation(.relu),
            Conv2d(384, 256, kernel: 3, padding: .symmetric(1)), Activation(.relu),
            Conv2d(256, 256, kernel: 3, padding: .symmetric(1)), Activation(.relu), MaxPool2d(kernel: 3, stride: 2),
        ])
        avgpool = AdaptiveAvgPool2d(6, 6)
        classifier = Sequential([
            Dropout(0.5), Linear(256 * 6 * 6, 4096), Activation(.relu),
            Dropout(0.5), Linear(4096, 4096), Activation(.relu), Linear(4096, classes),
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

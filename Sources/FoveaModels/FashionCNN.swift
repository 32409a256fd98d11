import FoveaNN
import FoveaTensor

/// Fovea's own small Fashion-MNIST classifier (28x28 grayscale, 10 classes), trained with
/// `fovea train`: `features` (conv 3x3 32 (no bias), BN, ReLU, max 2 -> 14x14; conv 3x3 64,
/// BN, ReLU, max 2 -> 7x7), `classifier` (Flatten, Linear 3136->128, ReLU, Dropout 0.25,
/// Linear 128->10). The PyTorch equivalent is `nn.Sequential`s with the same indices
/// (scripts/fashion_cnn.py).
public final class FashionCNN: Module {
    let features: Sequential, classifier: Sequential

    /// Fashion-MNIST's classes, in label order.
    public static let fashionMNISTClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    public init(classes: Int = 10) {
        features = Sequential([
            Conv2d(1, 32, kernel: 3, padding: .symmetric(1), bias: false), BatchNorm2d(32), Activation(.relu), MaxPool2d(kernel: 2),
            Conv2d(32, 64, kernel: 3, padding: .symmetric(1), bias: false), BatchNorm2d(64), Activation(.relu), MaxPool2d(kernel: 2),
        ])
        classifier = Sequential([
            Flatten(), Linear(64 * 7 * 7, 128), Activation(.relu), Dropout(0.25), Linear(128, classes),
        ])
        super.init()
        registerChild("features", features)
        registerChild("classifier", classifier)
    }

    public override func forward(_ x: Tensor) -> Tensor { classifier(features(x)) }
}

import FoveaNN
import FoveaTensor

/// GoogLeNet (Inception v1) in torchvision's layout, eval graph (no auxiliary heads; their
/// `aux1.*` / `aux2.*` checkpoint keys are ignored): conv1 7x7/2 64, maxpool1, conv2 1x1 64,
/// conv3 3x3 192, maxpool2, inception3a-b, maxpool3, inception4a-e, maxpool4, inception5a-b,
/// avgpool (global), dropout 0.2, fc 1024->classes. Every conv is `BasicConv2d` (conv without
/// bias, BN eps 0.001, ReLU); max pools 3/2 round up (ceil mode). With `transformInput` (as
/// torchvision sets it for the ImageNet weights) the ImageNet-normalised input is re-normalised
/// to mean 0.5, std 0.5 per channel: x_c * std_c / 0.5 + (mean_c - 0.5) / 0.5.
public final class GoogLeNet: Module {
    public let transformInput: Bool
    let layers: [Module]
    let avgpool = AdaptiveAvgPool2d(1, 1), dropout = Dropout(0.2)
    let fc: Linear

    public init(classes: Int = 1000, transformInput: Bool = true) {
        self.transformInput = transformInput
        let named: [(String, Module)] = [
            ("conv1", BasicConv2d(3, 64, kernel: 7, stride: 2, padding: 3)),
            ("maxpool1", MaxPool2d(kernel: 3, stride: 2, ceilMode: true)),
            ("conv2", BasicConv2d(64, 64, kernel: 1)),
            ("conv3", BasicConv2d(64, 192, kernel: 3, padding: 1)),
            ("maxpool2", MaxPool2d(kernel: 3, stride: 2, ceilMode: true)),
            ("inception3a", Inception(192, 64, 96, 128, 16, 32, 32)),
            ("inception3b", Inception(256, 128, 128, 192, 32, 96, 64)),
            ("maxpool3", MaxPool2d(kernel: 3, stride: 2, ceilMode: true)),
            ("inception4a", Inception(480, 192, 96, 208, 16, 48, 64)),
            ("inception4b", Inception(512, 160, 112, 224, 24, 64, 64)),
            ("inception4c", Inception(512, 128, 128, 256, 24, 64, 64)),
            ("inception4d", Inception(512, 112, 144, 288, 32, 64, 64)),
            ("inception4e", Inception(528, 256, 160, 320, 32, 128, 128)),
            ("maxpool4", MaxPool2d(kernel: 2, stride: 2, ceilMode: true)),
            ("inception5a", Inception(832, 256, 160, 320, 32, 128, 128)),
            ("inception5b", Inception(832, 384, 192, 384, 48, 128, 128)),
        ]
        layers = named.map(\.1)
        fc = Linear(1024, classes)
        super.init()
        for (name, m) in named { registerChild(name, m) }
        registerChild("avgpool", avgpool)
        registerChild("dropout", dropout)
        registerChild("fc", fc)
    }

    /// Checkpoint keys of the training-time auxiliary classifiers, which the eval graph lacks.
    public static let auxiliaryPrefixes = ["aux1.", "aux2."]

    public override func forward(_ x: Tensor) -> Tensor {
        var x = x
        if transformInput {
            // Per channel: x * (std / 0.5) + (mean - 0.5) / 0.5, ImageNet mean/std.
            let scale = Tensor(shape: [1, 3, 1, 1], values: [0.229 / 0.5, 0.224 / 0.5, 0.225 / 0.5])
            let shift = Tensor(shape: [1, 3, 1, 1], values: [(0.485 - 0.5) / 0.5, (0.456 - 0.5) / 0.5, (0.406 - 0.5) / 0.5])
            x = x * scale + shift
        }
        for layer in layers { x = layer(x) }
        return fc(dropout(avgpool(x).flattened(from: 1)))
    }
}

/// torchvision's BasicConv2d: `conv` (no bias), `bn` (eps 0.001), ReLU.
final class BasicConv2d: Module {
    let conv: Conv2d, bn: BatchNorm2d

    init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        conv = Conv2d(inChannels, outChannels, kernel: kernel, stride: stride, padding: .symmetric(padding), bias: false)
        bn = BatchNorm2d(outChannels, eps: 0.001)
        super.init()
        registerChild("conv", conv)
        registerChild("bn", bn)
    }

    override func forward(_ x: Tensor) -> Tensor { bn(conv(x), thenClampingAt: .infinity) }
}

/// Four branches concatenated on channels: branch1 1x1; branch2 1x1 then 3x3; branch3 1x1 then
/// 3x3 (torchvision's 3x3 where the paper has 5x5, kept for its weights); branch4 max 3/1 pad 1
/// (ceil mode) then 1x1.
final class Inception: Module {
    let branch1: BasicConv2d, branch2: Sequential, branch3: Sequential, branch4: Sequential

    init(_ inChannels: Int, _ ch1x1: Int, _ ch3x3red: Int, _ ch3x3: Int, _ ch5x5red: Int, _ ch5x5: Int, _ poolProj: Int) {
        branch1 = BasicConv2d(inChannels, ch1x1, kernel: 1)
        branch2 = Sequential([BasicConv2d(inChannels, ch3x3red, kernel: 1), BasicConv2d(ch3x3red, ch3x3, kernel: 3, padding: 1)])
        branch3 = Sequential([BasicConv2d(inChannels, ch5x5red, kernel: 1), BasicConv2d(ch5x5red, ch5x5, kernel: 3, padding: 1)])
        branch4 = Sequential([MaxPool2d(kernel: 3, stride: 1, padding: 1, ceilMode: true), BasicConv2d(inChannels, poolProj, kernel: 1)])
        super.init()
        registerChild("branch1", branch1); registerChild("branch2", branch2)
        registerChild("branch3", branch3); registerChild("branch4", branch4)
    }

    override func forward(_ x: Tensor) -> Tensor {
        Tensor.concat([branch1(x), branch2(x), branch3(x), branch4(x)], axis: 1)
    }
}

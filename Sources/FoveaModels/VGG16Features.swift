import FoveaNN
import FoveaTensor

/// The convolutional part of VGG-16 (Simonyan & Zisserman 2015, configuration D) as the
/// style-transfer literature uses it: 13 3x3 convolutions (padding 1) with ReLUs and 5 max
/// pools (2x2, stride 2), no classifier.
///
/// Its children are named as in the papers (Gatys et al., Johnson et al., Huang & Belongie):
/// `convB_I` (before the ReLU), `reluB_I`, `poolB`; Keras' names answer too, with Keras'
/// meaning (`block4_conv1` is the layer's activated output, `relu4_1`; `block4_pool` is
/// `pool4`). Input: RGB, 0...255 minus the ImageNet mean (123.68, 116.779, 103.939); the
/// Caffe-trained weights expect BGR, which ``convertKerasONNX(_:)`` folds into the first
/// convolution.
public final class VGG16Features: Module {
    /// Output channels of each block's convolutions.
    public static let blocks: [[Int]] = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]
    /// The RGB mean subtracted from 0...255 pixels.
    public static let mean: [Float] = [123.68, 116.779, 103.939]

    private let aliases: [String: String]

    public override init() {
        var layers: [(String, Module)] = []
        var aliases: [String: String] = [:]
        var channels = 3
        for (b, widths) in Self.blocks.enumerated() {
            for (i, width) in widths.enumerated() {
                let name = "\(b + 1)_\(i + 1)"
                layers.append(("conv" + name, Conv2d(channels, width, kernel: 3, padding: .symmetric(1))))
                layers.append(("relu" + name, Activation(.relu)))
                aliases["block\(b + 1)_conv\(i + 1)"] = "relu" + name
                channels = width
            }
            layers.append(("pool\(b + 1)", MaxPool2d(kernel: 2, stride: 2)))
            aliases["block\(b + 1)_pool"] = "pool\(b + 1)"
        }
        self.aliases = aliases
        super.init()
        for (name, layer) in layers { registerChild(name, layer) }
    }

    public override var layerAliases: [String: String] { aliases }

    public override func forward(_ x: Tensor) -> Tensor { runFused(x) }

    /// The state dict of a tf2onnx export of Keras' VGG16 (initializers
    /// `.../blockB_convI_1/convolution/ReadVariableOp:0`, OIHW, and `.../blockB_convI_1/Squeeze:0`)
    /// in this module's keys, the first convolution's input channels reversed (BGR -> RGB).
    /// Keys that already are this module's pass through; other initializers (a dense head) are dropped.
    public static func convertKerasONNX(_ initializers: [String: Tensor]) -> [String: Tensor] {
        var state: [String: Tensor] = [:]
        for (key, value) in initializers {
            if key.hasPrefix("conv") { state[key] = value; continue }
            guard let range = key.range(of: #"block(\d)_conv(\d)"#, options: .regularExpression) else { continue }
            let digits = key[range].filter(\.isNumber)
            let name = "conv\(digits.first!)_\(digits.last!)"
            if key.hasSuffix("/convolution/ReadVariableOp:0") {
                state[name + ".weight"] = name == "conv1_1" ? value.reversedChannels() : value
            } else if key.hasSuffix("/Squeeze:0") || key.hasSuffix("/BiasAdd/ReadVariableOp:0") {
                state[name + ".bias"] = value
            }
        }
        return state
    }
}

private extension Tensor {
    /// A [O, I, kh, kw] weight with the input-channel axis reversed.
    func reversedChannels() -> Tensor {
        let (o, i, k) = (shape[0], shape[1], shape[2] * shape[3])
        let src = scalars
        var out = [Float](repeating: 0, count: count)
        for a in 0..<o { for c in 0..<i { for j in 0..<k { out[(a * i + c) * k + j] = src[(a * i + (i - 1 - c)) * k + j] } } }
        return Tensor(shape: shape, values: out)
    }
}

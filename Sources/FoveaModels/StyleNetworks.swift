import FoveaNN
import FoveaTensor

/// A reflection-padded convolution, optionally after a nearest x`upsample`: the PyTorch
/// examples' `ConvLayer` / `UpsampleConvLayer` (children `conv2d`; padding and upsampling have no
/// parameters, so the state-dict keys are `<name>.conv2d.weight`).
public final class ReflectedConv: Module {
    let upsample: Int
    let pad: ReflectionPad2d
    public let conv2d: Conv2d

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, upsample: Int = 1) {
        self.upsample = upsample
        pad = ReflectionPad2d(kernel / 2)
        conv2d = Conv2d(inChannels, outChannels, kernel: kernel, stride: stride)
        super.init()
        registerChild("conv2d", conv2d)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let up = upsample > 1 ? x.resized(height: x.shape[2] * upsample, width: x.shape[3] * upsample, mode: .nearest) : x
        return conv2d(pad(up))
    }
}

/// Johnson, Alahi & Fei-Fei (2016)'s image transformation network with instance norm (Ulyanov
/// et al.), in the PyTorch examples' layout and module names, so their `fast_neural_style`
/// checkpoints load: 9x9 conv 32, 3x3 stride-2 convs to 64 and 128, five residual blocks, two
/// nearest x2 upsampling convs, 9x9 conv to 3 channels. Images in and out are 0...255 RGB
/// (the output unclamped); any size works (multiples of 4 keep it exact).
public final class TransformerNet: Module {
    final class ResidualBlock: Module {
        let conv1 = ReflectedConv(128, 128, kernel: 3), in1 = InstanceNorm2d(128, affine: true)
        let conv2 = ReflectedConv(128, 128, kernel: 3), in2 = InstanceNorm2d(128, affine: true)
        override init() {
            super.init()
            registerChild("conv1", conv1); registerChild("in1", in1)
            registerChild("conv2", conv2); registerChild("in2", in2)
        }
        override func forward(_ x: Tensor) -> Tensor { x + in2(conv2(in1(conv1(x)).relu())) }
    }

    let conv1 = ReflectedConv(3, 32, kernel: 9), in1 = InstanceNorm2d(32, affine: true)
    let conv2 = ReflectedConv(32, 64, kernel: 3, stride: 2), in2 = InstanceNorm2d(64, affine: true)
    let conv3 = ReflectedConv(64, 128, kernel: 3, stride: 2), in3 = InstanceNorm2d(128, affine: true)
    let residuals = (1...5).map { _ in ResidualBlock() }
    let deconv1 = ReflectedConv(128, 64, kernel: 3, upsample: 2), in4 = InstanceNorm2d(64, affine: true)
    let deconv2 = ReflectedConv(64, 32, kernel: 3, upsample: 2), in5 = InstanceNorm2d(32, affine: true)
    let deconv3 = ReflectedConv(32, 3, kernel: 9)

    public override init() {
        super.init()
        for (name, m) in [("conv1", conv1), ("in1", in1), ("conv2", conv2), ("in2", in2), ("conv3", conv3), ("in3", in3)] as [(String, Module)] {
            registerChild(name, m)
        }
        for (i, block) in residuals.enumerated() { registerChild("res\(i + 1)", block) }
        for (name, m) in [("deconv1", deconv1), ("in4", in4), ("deconv2", deconv2), ("in5", in5), ("deconv3", deconv3)] as [(String, Module)] {
            registerChild(name, m)
        }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        var y = in1(conv1(x)).relu()
        y = in2(conv2(y)).relu()
        y = in3(conv3(y)).relu()
        for block in residuals { y = block(y) }
        y = in4(deconv1(y)).relu()
        y = in5(deconv2(y)).relu()
        return deconv3(y)
    }
}

/// The decoder of AdaIN style transfer (Huang & Belongie 2017): VGG-19's layers up to relu4_1
/// mirrored, with nearest x2 upsampling in place of pooling and no normalisation, in the
/// original's `nn.Sequential` layout (indices 0-28). relu4_1 features [B, 512, H/8, W/8] in,
/// a 0...1 RGB image out (unclamped).
public final class AdaINDecoder: Module {
    let body: Sequential

    public override init() {
        var layers: [Module] = []
        func conv(_ i: Int, _ o: Int, relu: Bool = true) {
            layers += [ReflectionPad2d(1), Conv2d(i, o, kernel: 3)]
            if relu { layers.append(Activation(.relu)) }
        }
        conv(512, 256); layers.append(Upsample(scale: 2))
        conv(256, 256); conv(256, 256); conv(256, 256); conv(256, 128); layers.append(Upsample(scale: 2))
        conv(128, 128); conv(128, 64); layers.append(Upsample(scale: 2))
        conv(64, 64); conv(64, 3, relu: false)
        body = Sequential(layers)
        super.init()
        // Children named "0" ... "28" as the original's state dict.
        for (name, m) in body.children { registerChild(name, m) }
    }

    public override func forward(_ x: Tensor) -> Tensor { body(x) }

    /// The last convolution (64 -> 3 channels), child "28".
    public var outputLayer: Conv2d { body[body.count - 1] as! Conv2d }
}

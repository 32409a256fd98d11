import FoveaTensor

/// How a convolution pads its input.
public enum ConvPadding: Sendable {
    /// Fixed padding (PyTorch's `padding=`), possibly asymmetric.
    case explicit(top: Int, bottom: Int, left: Int, right: Int)
    /// TensorFlow "SAME": per axis total = max((ceil(i/s) - 1) * s + (k - 1) * d + 1 - i, 0),
    /// floor(total/2) before and the rest after. Depends on the input size.
    case tfSame

    public static func symmetric(_ p: Int) -> ConvPadding { .explicit(top: p, bottom: p, left: p, right: p) }

    func resolve(inputH: Int, inputW: Int, kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int))
        -> (top: Int, bottom: Int, left: Int, right: Int) {
        switch self {
        case let .explicit(t, b, l, r): return (t, b, l, r)
        case .tfSame:
            func total(_ i: Int, _ k: Int, _ s: Int, _ d: Int) -> Int {
                max(((i + s - 1) / s - 1) * s + (k - 1) * d + 1 - i, 0)
            }
            let th = total(inputH, kernel.0, stride.0, dilation.0), tw = total(inputW, kernel.1, stride.1, dilation.1)
            return (th / 2, th - th / 2, tw / 2, tw - tw / 2)
        }
    }
}

/// `torch.nn.Conv2d`: parameters `weight` [out, in/groups, kh, kw] and optional `bias` [out].
/// A layer that computes a 2-D convolution, with its weight [out, in / groups, kh, kw] (nil if
/// the weight is not a constant): what `fovea filters` draws, for native Conv2d, ONNX Conv and
/// Keras Conv2D/DepthwiseConv2D layers alike.
public protocol ConvolutionWeighted: AnyObject {
    var convolutionWeight: Tensor? { get }
}

extension Conv2d: ConvolutionWeighted {
    public var convolutionWeight: Tensor? { weight }
}

public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: (Int, Int), dilation: (Int, Int), groups: Int
    public let padding: ConvPadding

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1,
                padding: ConvPadding = .symmetric(0), dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "channels not divisible by groups")
        let fanIn = inChannels / groups * kernel * kernel
        self.stride = (stride, stride)
        self.dilation = (dilation, dilation)
        self.groups = groups
        self.padding = padding
        weight = Init.uniformFanIn([outChannels, inChannels / groups, kernel, kernel], fanIn: fanIn)
        self.bias = bias ? Init.uniformFanIn([outChannels], fanIn: fanIn) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let pad = padding.resolve(inputH: x.shape[2], inputW: x.shape[3],
                                  kernel: (weight.shape[2], weight.shape[3]), stride: stride, dilation: dilation)
        return x.conv2d(weight: weight, bias: bias, stride: stride, padding: pad, dilation: dilation, groups: groups)
    }

    /// `activation(self(x))` for a ReLU or ReLU6 after this convolution, as one primitive
    /// (``Tensor/conv2dClamped(weight:bias:stride:padding:dilation:groups:upper:)``: the clamp in
    /// place, one tensor kept for the backward pass instead of two) when no hook needs the
    /// convolution's own output (hooks on the convolution, pre-hooks on the activation) and no
    /// backward rule of theirs is overridden; otherwise the two layers one by one. The
    /// activation's forward hooks see (and may replace) the fused output.
    public func callAsFunction(_ x: Tensor, then activation: Activation) -> Tensor {
        guard let upper = activation.clampUpper, !hasHooks, activation.forwardPreHooks.isEmpty,
              !GradMode.overrides("conv2d"), !GradMode.overrides(upper.isFinite ? "relu6" : "relu") else {
            return activation(self(x))
        }
        if ForwardStop.current?.isStopped == true { return x }        // a truncated pass: as skipped modules
        let pad = padding.resolve(inputH: x.shape[2], inputW: x.shape[3],
                                  kernel: (weight.shape[2], weight.shape[3]), stride: stride, dilation: dilation)
        return activation.afterForward(x.conv2dClamped(weight: weight, bias: bias, stride: stride, padding: pad,
                                                       dilation: dilation, groups: groups, upper: upper))
    }
}

/// `torch.nn.Linear`: `weight` [out, in], `bias` [out]; y = x W^T + b on [N, in].
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        weight = Init.uniformFanIn([outFeatures, inFeatures], fanIn: inFeatures)
        self.bias = bias ? Init.uniformFanIn([outFeatures], fanIn: inFeatures) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public override func forward(_ x: Tensor) -> Tensor { x.linear(weight: weight, bias: bias) }
}

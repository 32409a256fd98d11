/// Geometry of a 2-D convolution or pooling window over NCHW input.
public struct Conv2dGeometry: Equatable, Sendable {
    public var kernel: (h: Int, w: Int)
    public var stride: (h: Int, w: Int)
    /// Explicit, possibly asymmetric padding in pixels.
    public var padding: (top: Int, bottom: Int, left: Int, right: Int)
    public var dilation: (h: Int, w: Int)

    public init(kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (top: Int, bottom: Int, left: Int, right: Int) = (0, 0, 0, 0),
                dilation: (Int, Int) = (1, 1)) {
        self.kernel = (kernel.0, kernel.1)
        self.stride = (stride.0, stride.1)
        self.padding = padding
        self.dilation = (dilation.0, dilation.1)
    }

    /// Output spatial size for an input of `h` x `w`:
    /// out = floor((in + padBefore + padAfter - dilation*(k-1) - 1) / stride) + 1, 0 when the
    /// padded input is shorter than the dilated kernel.
    public func outputSize(h: Int, w: Int, ceilMode: Bool = false) -> (h: Int, w: Int) {
        func size(_ i: Int, _ p: Int, _ k: Int, _ s: Int, _ d: Int) -> Int {
            let span = i + p - d * (k - 1) - 1
            guard span >= 0 else { return 0 }
            if ceilMode {
                var o = (span + s - 1) / s + 1
                // PyTorch: the last window must start inside the input or left padding.
                if (o - 1) * s >= i + p / 2 { o -= 1 }
                return o
            }
            return span / s + 1
        }
        return (size(h, padding.top + padding.bottom, kernel.h, stride.h, dilation.h),
                size(w, padding.left + padding.right, kernel.w, stride.w, dilation.w))
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.kernel == b.kernel && a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation
    }
}

/// How a border is padded.
public enum PaddingMode: Sendable { case zero, reflect }

/// How an image is resampled.
public enum ResizeMode: Sendable { case nearest, bilinear }

/// The closed set of differentiable primitives. Every public op lowers to one of these; their
/// gradient rules all live in `Autodiff+Rules.swift`.
public enum Primitive {
    // Elementwise, broadcasting (NumPy rules).
    case add, sub, mul, div
    // Elementwise, unary.
    case neg, exp, log, sqrt, abs, sin, cos
    case addScalar(Float), mulScalar(Float), powScalar(Float)
    case relu, relu6, leakyRelu(slope: Float), sigmoid, tanh
    // Reductions and normalisers.
    case sum(axes: [Int])                      // keeps reduced axes as size 1
    case maxReduce(axis: Int)                  // keeps the axis as size 1
    case softmax(axis: Int), logSoftmax(axis: Int)
    // Linear algebra and CNN layers.
    case matmul(transposeA: Bool, transposeB: Bool)            // 2-D
    case conv2d(Conv2dGeometry, groups: Int)                   // inputs x, w[, b]
    case convTranspose2d(Conv2dGeometry, groups: Int)          // inputs x, w[, b]; the adjoint of conv2d
    /// clamp(conv2d(a, w, b) * scale + shift, 0, upper), a = clamp(x * inScale + inShift, 0,
    /// inputUpper) when inputUpper is set (depthwise only), else a = x. Inputs x, w, scale,
    /// shift[, inScale, inShift][, b]; constants but x and w.
    case conv2dBatchNormClamp(Conv2dGeometry, groups: Int, upper: Float, inputUpper: Float?)
    /// clamp(conv2d(x, w, b), 0, upper): a convolution and the ReLU (infinity) or ReLU6 (6) after
    /// it, the clamp in place. Inputs x, w[, b].
    case conv2dClamp(Conv2dGeometry, groups: Int, upper: Float)
    case maxPool2d(Conv2dGeometry, ceilMode: Bool)
    case avgPool2d(Conv2dGeometry, ceilMode: Bool, countIncludePad: Bool)
    case adaptiveAvgPool2d(h: Int, w: Int)
    case batchNorm(eps: Float, training: Bool)                 // inputs x, weight, bias; saved mean, invstd
    case batchNormClamp(upper: Float)                          // inputs x, scale (a constant): frozen eval BN + ReLU/ReLU6
    /// clamp(x * scale + shift + r, 0, upper): a frozen eval batch norm, a residual add and ReLU
    /// or ReLU6. Inputs x, r, scale (a constant).
    case batchNormAddClamp(upper: Float)
    /// Training-mode batch norm, then clamp(., 0, upper) (ReLU or ReLU6). Inputs x, weight,
    /// bias; saved mean, invstd, and the scale and shift the output was computed with.
    case batchNormTrainClamp(eps: Float, upper: Float)
    /// batchNormTrainClamp, then 2x2 max pooling at stride 2. Inputs x, weight, bias; saved mean,
    /// invstd, scale, each window's argmax and x there.
    case batchNormTrainClampMaxPool(eps: Float, upper: Float)
    /// A frozen eval batch norm, ReLU/ReLU6 and a max pool. Inputs x, scale (a constant); saved
    /// each window's argmax.
    case batchNormClampMaxPool(Conv2dGeometry, upper: Float)
    /// [B, C, ...] -> [B, C, 2]: each plane's mean and sqrt(biased variance + eps).
    case planeMoments(eps: Float)
    // Shape.
    case reshape
    case expand
    case permute([Int])
    case concat(axis: Int)
    case slice(axis: Int, start: Int, end: Int)
    case pad2d(top: Int, bottom: Int, left: Int, right: Int, mode: PaddingMode)
    case resize2d(h: Int, w: Int, mode: ResizeMode)
    case affineResample(theta: [Float], h: Int, w: Int)      // bilinear, one 2x3 matrix per image (or one for all)
    // Signals.
    case irfft2(h: Int, w: Int)                                // [..., h, w/2+1, 2] -> [..., h, w], ortho
    // Gradient plumbing.
    case straightThrough                       // out = a stored value; d out / d input = identity

    /// The name used to override a rule with ``withBackwardRule(for:_:_:)``.
    public var name: String {
        switch self {
        case .add: "add"; case .sub: "sub"; case .mul: "mul"; case .div: "div"
        case .neg: "neg"; case .exp: "exp"; case .log: "log"; case .sqrt: "sqrt"; case .abs: "abs"
        case .sin: "sin"; case .cos: "cos"
        case .addScalar: "addScalar"; case .mulScalar: "mulScalar"; case .powScalar: "powScalar"
        case .relu: "relu"; case .relu6: "relu6"; case .leakyRelu: "leakyRelu"
        case .sigmoid: "sigmoid"; case .tanh: "tanh"
        case .sum: "sum"; case .maxReduce: "maxReduce"
        case .softmax: "softmax"; case .logSoftmax: "logSoftmax"
        case .matmul: "matmul"; case .conv2d: "conv2d"; case .convTranspose2d: "convTranspose2d"
        case .conv2dBatchNormClamp: "conv2dBatchNormClamp"; case .conv2dClamp: "conv2dClamp"
        case .maxPool2d: "maxPool2d"; case .avgPool2d: "avgPool2d"; case .adaptiveAvgPool2d: "adaptiveAvgPool2d"
        case .batchNorm: "batchNorm"; case .batchNormClamp: "batchNormClamp"
        case .batchNormAddClamp: "batchNormAddClamp"
        case .batchNormTrainClamp: "batchNormTrainClamp"; case .batchNormTrainClampMaxPool: "batchNormTrainClampMaxPool"
        case .batchNormClampMaxPool: "batchNormClampMaxPool"
        case .planeMoments: "planeMoments"
        case .reshape: "reshape"; case .expand: "expand"; case .permute: "permute"
        case .concat: "concat"; case .slice: "slice"; case .pad2d: "pad2d"; case .resize2d: "resize2d"
        case .affineResample: "affineResample"; case .irfft2: "irfft2"
        case .straightThrough: "straightThrough"
        }
    }
}

/// A recorded application of a primitive: what made a tensor.
public final class Node {
    public let primitive: Primitive
    public let inputs: [Tensor]
    /// Tensors computed in the forward pass and needed by the rule (e.g. batch-norm statistics).
    public let saved: [Tensor]
    let rule: BackwardRule?

    init(_ primitive: Primitive, inputs: [Tensor], saved: [Tensor], rule: BackwardRule?) {
        self.primitive = primitive
        self.inputs = inputs
        self.saved = saved
        self.rule = rule
    }
}

extension Tensor {
    /// Attaches the record of `primitive` to this freshly computed tensor when recording is on
    /// and some input is differentiable. Returns `self`.
    @discardableResult
    func recorded(_ primitive: Primitive, _ inputs: [Tensor], saved: [Tensor] = []) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: { $0.isDifferentiable }) else { return self }
        let rule = GradMode.overrides.isEmpty ? nil : GradMode.overrides[primitive.name]
        node = Node(primitive, inputs: inputs, saved: saved, rule: rule)
        return self
    }
}

import Foundation
import FoveaNN
import FoveaTensor

/// Keras layers on Fovea's NCHW tensors. Parameters keep Keras's weight names (`kernel`,
/// `bias`, `gamma`, ...) with PyTorch layouts: Conv2D kernels HWIO -> OIHW, Dense kernels
/// [in, out] -> [out, in]. A layer's output is what Keras computes, activation included,
/// laid out NCHW.

/// Shape inference, so that a model whose layers do not fit together is refused at load
/// (with the layer named) instead of failing inside a kernel. Shapes are [C, H, W] or [features].
protocol KerasShaped {
    func outputShape(_ input: [Int]) -> [Int]?
}

/// A Keras activation by name.
enum KerasActivation: String {
    case linear, relu, relu6, sigmoid, tanh, softmax, elu, swish, hard_sigmoid

    func apply(_ x: Tensor) -> Tensor {
        switch self {
        case .linear: return x
        case .relu: return x.relu()
        case .relu6: return x.relu6()
        case .sigmoid: return x.sigmoid()
        case .tanh: return x.tanh()
        case .softmax: return x.softmax(axis: 1)
        case .elu: return x.relu() + ((x - x.relu()).exp() - 1)          // x > 0 ? x : e^x - 1
        case .swish: return x * x.sigmoid()
        case .hard_sigmoid: return 1 - (1 - (x * 0.2 + 0.5).relu()).relu()
        }
    }
}

/// TensorFlow padding: "valid" (none) or "same" (total max((ceil(i/s)-1)s + k - i, 0), the
/// extra pixel after).
func tensorFlowPadding(same: Bool, input: (Int, Int), kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int) = (1, 1))
    -> (top: Int, bottom: Int, left: Int, right: Int) {
    guard same else { return (0, 0, 0, 0) }
    func split(_ i: Int, _ k: Int, _ s: Int, _ d: Int) -> (Int, Int) {
        let total = max(((i + s - 1) / s - 1) * s + (k - 1) * d + 1 - i, 0)
        return (total / 2, total - total / 2)
    }
    let (t, b) = split(input.0, kernel.0, stride.0, dilation.0), (l, r) = split(input.1, kernel.1, stride.1, dilation.1)
    return (t, b, l, r)
}

final class KerasConv2D: Module {
    override var kindDescription: String { "Keras Conv2D" }
    let stride: (Int, Int), dilation: (Int, Int), same: Bool, activation: KerasActivation, groups: Int
    let kernel: Tensor, bias: Tensor?

    init(kernel hwio: Tensor, bias: Tensor?, stride: (Int, Int), dilation: (Int, Int), same: Bool, groups: Int, activation: KerasActivation) {
        self.stride = stride; self.dilation = dilation; self.same = same; self.groups = groups; self.activation = activation
        kernel = hwio.permuted([3, 2, 0, 1]).copy()
        self.bias = bias
        super.init()
        registerParameter("kernel", kernel)
        if let bias { registerParameter("bias", bias) }
    }

    override func forward(_ x: Tensor) -> Tensor {
        let p = tensorFlowPadding(same: same, input: (x.shape[2], x.shape[3]), kernel: (kernel.shape[2], kernel.shape[3]),
                                  stride: stride, dilation: dilation)
        return activation.apply(x.conv2d(weight: kernel, bias: bias, stride: stride, padding: p, dilation: dilation, groups: groups))
    }
}

extension KerasConv2D: ConvolutionWeighted {
    var convolutionWeight: Tensor? { kernel }
}

extension KerasConv2D: KerasShaped {
    func outputShape(_ s: [Int]) -> [Int]? {
        guard s.count == 3, s[0] == kernel.shape[1] * groups, kernel.shape[0] % groups == 0 else { return nil }
        let p = tensorFlowPadding(same: same, input: (s[1], s[2]), kernel: (kernel.shape[2], kernel.shape[3]), stride: stride, dilation: dilation)
        let g = Conv2dGeometry(kernel: (kernel.shape[2], kernel.shape[3]), stride: stride, padding: p, dilation: dilation)
        let (h, w) = g.outputSize(h: s[1], w: s[2])
        return h > 0 && w > 0 ? [kernel.shape[0], h, w] : nil
    }
}

final class KerasDense: Module {
    override var kindDescription: String { "Keras Dense" }
    let weight: Tensor, bias: Tensor?, activation: KerasActivation

    init(kernel: Tensor, bias: Tensor?, activation: KerasActivation) {
        weight = kernel.permuted([1, 0]).copy()
        self.bias = bias
        self.activation = activation
        super.init()
        registerParameter("kernel", weight)
        if let bias { registerParameter("bias", bias) }
    }

    override func forward(_ x: Tensor) -> Tensor { activation.apply(x.linear(weight: weight, bias: bias)) }
}

extension KerasDense: KerasShaped {
    func outputShape(_ s: [Int]) -> [Int]? { s == [weight.shape[1]] && (bias?.count ?? weight.shape[0]) == weight.shape[0] ? [weight.shape[0]] : nil }
}

/// BatchNormalization over the channel axis (Keras axis 3 of NHWC = axis 1 here), eval statistics.
final class KerasBatchNormalization: Module {
    override var kindDescription: String { "Keras BatchNormalization" }
    let gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor, eps: Float

    init(gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor, eps: Float) {
        self.gamma = gamma; self.beta = beta; self.mean = mean; self.variance = variance; self.eps = eps
        super.init()
        registerParameter("gamma", gamma)
        registerParameter("beta", beta)
        registerBuffer("moving_mean", mean)
        registerBuffer("moving_variance", variance)
    }

    override func forward(_ x: Tensor) -> Tensor {
        x.batchNorm(weight: gamma, bias: beta, runningMean: mean, runningVar: variance, training: false, eps: eps)
    }
}

extension KerasBatchNormalization: KerasShaped {
    func outputShape(_ s: [Int]) -> [Int]? {
        let n = mean.count
        return s.first == n && [gamma, beta, variance].allSatisfy({ $0.count == n }) ? s : nil
    }
}

final class KerasPooling2D: Module {
    override var kindDescription: String { max ? "Keras MaxPooling2D" : "Keras AveragePooling2D" }
    let pool: (Int, Int), stride: (Int, Int), same: Bool, max: Bool

    init(pool: (Int, Int), stride: (Int, Int), same: Bool, max: Bool) {
        self.pool = pool; self.stride = stride; self.same = same; self.max = max
    }

    override func forward(_ x: Tensor) -> Tensor {
        let p = tensorFlowPadding(same: same, input: (x.shape[2], x.shape[3]), kernel: pool, stride: stride)
        if max {
            // TensorFlow's "same" max pooling ignores the padding (as -infinity would).
            return x.maxPool2d(kernel: pool, stride: stride, padding: p)
        }
        return x.avgPool2d(kernel: pool, stride: stride, padding: p, countIncludePad: false)
    }
}

extension KerasPooling2D: KerasShaped {
    func outputShape(_ s: [Int]) -> [Int]? {
        guard s.count == 3 else { return nil }
        let p = tensorFlowPadding(same: same, input: (s[1], s[2]), kernel: pool, stride: stride)
        let (h, w) = Conv2dGeometry(kernel: pool, stride: stride, padding: p).outputSize(h: s[1], w: s[2])
        return h > 0 && w > 0 ? [s[0], h, w] : nil
    }
}

final class KerasGlobalPooling2D: Module {
    override var kindDescription: String { max ? "Keras GlobalMaxPooling2D" : "Keras GlobalAveragePooling2D" }
    let max: Bool
    init(max: Bool) { self.max = max }
    override func forward(_ x: Tensor) -> Tensor {
        max ? x.max(axis: 2).max(axis: 3).flattened() : x.adaptiveAvgPool2d(height: 1, width: 1).flattened()
    }
}

extension KerasGlobalPooling2D: KerasShaped {
    func outputShape(_ s: [Int]) -> [Int]? { s.count == 3 ? [s[0]] : nil }
}

/// Flatten in Keras's channels-last order, so Dense kernels apply unchanged.
final class KerasFlatten: Module {
    override var kindDescription: String { "Keras Flatten" }
    override func forward(_ x: Tensor) -> Tensor { x.rank == 4 ? x.permuted([0, 2, 3, 1]).flattened() : x.flattened() }
}

extension KerasFlatten: KerasShaped {
    func outputShape(_ s: [Int]) -> [Int]? { [s.reduce(1, *)] }
}

/// Activation, ReLU, Softmax, Dropout (identity at inference), Rescaling: elementwise layers.
final class KerasElementwise: Module, KerasShaped {
    let function: (Tensor) -> Tensor
    let kind: String
    /// Padding (top, bottom, left, right) for ZeroPadding2D; nil keeps the shape.
    let padding: (Int, Int, Int, Int)?
    init(kind: String, padding: (Int, Int, Int, Int)? = nil, _ function: @escaping (Tensor) -> Tensor) {
        self.kind = kind; self.padding = padding; self.function = function
    }
    func outputShape(_ s: [Int]) -> [Int]? {
        guard let (t, b, l, r) = padding else { return s }
        return s.count == 3 ? [s[0], s[1] + t + b, s[2] + l + r] : nil
    }
    override func forward(_ x: Tensor) -> Tensor { function(x) }
    override var kindDescription: String { "Keras \(kind)" }
}

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
    case linear, relu, relu6, sigmoid, tanh, softmax, elu, swish, silu, hard_sigmoid, hard_swish, hard_silu, softplus

    func apply(_ x: Tensor) -> Tensor {
        switch self {
        case .linear: return x
        case .relu: return x.relu()
        case .relu6: return x.relu6()
        case .sigmoid: return x.sigmoid()
        case .tanh: return x.tanh()
        case .softmax: return x.softmax(axis: 1)
        case .elu: return x.relu() + ((x - x.relu()).exp() - 1)          // x > 0 ? x : e^x - 1
        case .swish, .silu: return x * x.sigmoid()
        case .hard_sigmoid: return 1 - (1 - (x * 0.2 + 0.5).relu()).relu()
        case .hard_swish, .hard_silu: return x * (x + 3).relu6() / 6          // x relu6(x + 3) / 6
        case .softplus: return x.relu() + ((-x.abs()).exp() + 1).log()          // log(1 + e^x), stable
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

extension KerasSeparableConv2D: ConvolutionWeighted {
    var convolutionWeight: Tensor? { depthwise.kernel }
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
    let max: Bool, keepDims: Bool
    init(max: Bool, keepDims: Bool = false) { self.max = max; self.keepDims = keepDims }
    override func forward(_ x: Tensor) -> Tensor {
        let pooled = max ? x.max(axis: 2).max(axis: 3) : x.adaptiveAvgPool2d(height: 1, width: 1)      // [N, C, 1, 1]
        return keepDims ? pooled : pooled.flattened()
    }
}

extension KerasGlobalPooling2D: KerasShaped {
    func outputShape(_ s: [Int]) -> [Int]? { s.count == 3 ? (keepDims ? [s[0], 1, 1] : [s[0]]) : nil }
}

/// SeparableConv2D: a depthwise convolution (kernel (kh, kw, C, m)) then a pointwise 1x1 one
/// ((1, 1, C m, out)) with the bias and activation.
final class KerasSeparableConv2D: Module {
    override var kindDescription: String { "Keras SeparableConv2D" }
    let depthwise: KerasConv2D, pointwise: KerasConv2D

    init(depthwise: KerasConv2D, pointwise: KerasConv2D) {
        self.depthwise = depthwise; self.pointwise = pointwise
        super.init()
        registerParameter("depthwise_kernel", depthwise.kernel)
        registerParameter("pointwise_kernel", pointwise.kernel)
        if let bias = pointwise.bias { registerParameter("bias", bias) }
    }

    override func forward(_ x: Tensor) -> Tensor { pointwise.forward(depthwise.forward(x)) }
}

extension KerasSeparableConv2D: KerasShaped {
    func outputShape(_ s: [Int]) -> [Int]? { depthwise.outputShape(s).flatMap(pointwise.outputShape) }
}

/// Reshape to a channels-last `target` (Keras's view): an N x C x H x W input is read in
/// N x H x W x C order, and a 3-D target (H, W, C) comes back as N x C x H x W.
final class KerasReshape: Module, KerasShaped {
    override var kindDescription: String { "Keras Reshape" }
    let target: [Int]
    init(target: [Int]) { self.target = target }

    override func forward(_ x: Tensor) -> Tensor {
        let flat = x.rank == 4 ? x.permuted([0, 2, 3, 1]) : x
        let y = flat.reshaped([x.shape[0]] + target)
        return target.count == 3 ? y.permuted([0, 3, 1, 2]) : y
    }

    func outputShape(_ s: [Int]) -> [Int]? {
        guard s.reduce(1, *) == target.reduce(1, *) else { return nil }
        return target.count == 3 ? [target[2], target[0], target[1]] : target
    }
}

/// A layer of several inputs (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate).
/// The model computes ``merge(_:)`` and passes the result through the layer (an identity), so
/// hooks on it see its output.
final class KerasMerge: Module {
    enum Operation: String { case add = "Add", subtract = "Subtract", multiply = "Multiply", average = "Average",
                                  maximum = "Maximum", minimum = "Minimum", concatenate = "Concatenate" }
    let operation: Operation
    /// Concatenate's Keras axis (channels-last numbering, negative from the end).
    let axis: Int
    init(_ operation: Operation, axis: Int = -1) { self.operation = operation; self.axis = axis }
    override var kindDescription: String { "Keras \(operation.rawValue)" }

    /// Keras's axis `axis` of a rank-`rank` channels-last tensor, on Fovea's channels-first one.
    static func channelsFirstAxis(_ axis: Int, rank: Int) -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard rank >= 3 else { return a }
        return a == 0 ? 0 : (a == rank - 1 ? 1 : a + 1)
    }

    func merge(_ xs: [Tensor]) -> Tensor {
        switch operation {
        case .add: return xs.dropFirst().reduce(xs[0], +)
        case .subtract: return xs[0] - xs[1]
        case .multiply: return xs.dropFirst().reduce(xs[0], *)
        case .average: return xs.dropFirst().reduce(xs[0], +) / Float(xs.count)
        case .maximum: return xs.dropFirst().reduce(xs[0]) { a, b in a + (b - a).relu() }
        case .minimum: return xs.dropFirst().reduce(xs[0]) { a, b in a - (a - b).relu() }
        case .concatenate: return Tensor.concat(xs, axis: Self.channelsFirstAxis(axis, rank: xs[0].rank))
        }
    }

    /// The output shape ([C, H, W] or [features]) of inputs of `shapes`, nil if they do not fit.
    func outputShape(_ shapes: [[Int]]) -> [Int]? {
        guard let first = shapes.first, shapes.allSatisfy({ $0.count == first.count }) else { return nil }
        switch operation {
        case .concatenate:
            let a = Self.channelsFirstAxis(axis, rank: first.count + 1) - 1
            guard a >= 0 && a < first.count else { return nil }
            for s in shapes where (0..<first.count).contains(where: { $0 != a && s[$0] != first[$0] }) { return nil }
            var out = first
            out[a] = shapes.reduce(0) { $0 + $1[a] }
            return out
        case .subtract where shapes.count != 2:
            return nil
        default:
            // Broadcasting of size-1 axes (a squeeze-excite gate [C, 1, 1] times a map [C, H, W]).
            var out = first
            for s in shapes.dropFirst() {
                for i in out.indices {
                    guard out[i] == s[i] || out[i] == 1 || s[i] == 1 else { return nil }
                    out[i] = max(out[i], s[i])
                }
            }
            return out
        }
    }

    override func forward(_ x: Tensor) -> Tensor { x }
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

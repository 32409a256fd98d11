import FoveaTensor

/// `torch.nn.BatchNorm2d` (also fine for [N, C]): `weight`, `bias`, buffers `running_mean`,
/// `running_var`, `num_batches_tracked`.
public final class BatchNorm2d: Module {
    public let weight, bias, runningMean, runningVar, numBatchesTracked: Tensor
    public let eps: Float, momentum: Float

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
        self.eps = eps
        self.momentum = momentum
        weight = Tensor(repeating: 1, shape: [channels])
        bias = Tensor(zeros: [channels])
        runningMean = Tensor(zeros: [channels])
        runningVar = Tensor(repeating: 1, shape: [channels])
        numBatchesTracked = Tensor(zeros: [])
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
        registerBuffer("running_mean", runningMean)
        registerBuffer("running_var", runningVar)
        registerBuffer("num_batches_tracked", numBatchesTracked)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        if isTraining { numBatchesTracked.storage.pointer[0] += 1 }
        return x.batchNorm(weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                           training: isTraining, momentum: momentum, eps: eps)
    }
}

extension BatchNorm2d {
    /// `activation(self(x))` for the ReLU or ReLU6 module right after this layer, computed in one
    /// pass when nothing can tell the difference: no hooks on either module and no
    /// backward-rule override of the activation (guided backprop); in eval mode with frozen
    /// weight and bias (``Tensor/batchNormClamped(weight:bias:runningMean:runningVar:eps:upper:)``)
    /// or in training (``Tensor/batchNormTrainingClamped(weight:bias:runningMean:runningVar:momentum:eps:upper:)``).
    /// Otherwise the two layers run as usual.
    public func callAsFunction(_ x: Tensor, then activation: Activation) -> Tensor {
        guard let upper = activation.clampUpper, !activation.hasHooks else { return activation(self(x)) }
        return fused(x, upper: upper) ?? activation(self(x))
    }

    /// The same for an activation applied as a function: ReLU (upper = infinity) or ReLU6 (6).
    public func callAsFunction(_ x: Tensor, thenClampingAt upper: Float) -> Tensor {
        fused(x, upper: upper) ?? (upper.isFinite ? self(x).relu6() : self(x).relu())
    }

    /// `pool(activation(self(x)))` for a batch norm, the ReLU or ReLU6 after it and a max pool
    /// after that, as one primitive where nothing can tell: no hooks on the three modules and no
    /// backward-rule override of the activation or the pooling. In training for 2x2 pooling at
    /// stride 2 (``Tensor/batchNormTrainingClampedMaxPool2x2(weight:bias:runningMean:runningVar:momentum:eps:upper:)``),
    /// in eval mode with frozen weight and bias for any max pool
    /// (``Tensor/batchNormClampedMaxPool(weight:bias:runningMean:runningVar:eps:upper:kernel:stride:padding:ceilMode:)``).
    /// Otherwise as ``callAsFunction(_:then:)``, then the pool.
    public func callAsFunction(_ x: Tensor, then activation: Activation, pooling pool: MaxPool2d) -> Tensor {
        guard let upper = activation.clampUpper, clampIsUnobserved(upper: upper), !activation.hasHooks, !pool.hasHooks,
              x.rank == 4, x.shape[1] == weight.count, !GradMode.overrides("maxPool2d"),
              ForwardStop.current?.isStopped != true else {
            return pool(self(x, then: activation))
        }
        if isTraining, pool.kernel == 2, pool.stride == 2, pool.padding == 0, x.shape[2] >= 2, x.shape[3] >= 2,
           !pool.ceilMode || (x.shape[2] % 2 == 0 && x.shape[3] % 2 == 0) {
            numBatchesTracked.storage.pointer[0] += 1
            return x.batchNormTrainingClampedMaxPool2x2(weight: weight, bias: bias, runningMean: runningMean,
                                                        runningVar: runningVar, momentum: momentum, eps: eps, upper: upper)
        }
        if canFuse(upper: upper) {
            let (k, s, p) = (pool.kernel, pool.stride, pool.padding)
            return x.batchNormClampedMaxPool(weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                             eps: eps, upper: upper, kernel: (k, k), stride: (s, s), padding: (p, p, p, p),
                                             ceilMode: pool.ceilMode)
        }
        return pool(self(x, then: activation))
    }

    /// `activation(self(x) + residual)`, a residual block's tail, computed in one pass
    /// (``Tensor/batchNormAddClamped(_:weight:bias:runningMean:runningVar:eps:upper:)``) where
    /// nothing can tell the difference: eval mode with frozen weight and bias, no hooks on either
    /// module, no backward-rule override of the activation or the add, and shapes that need no
    /// broadcasting. Otherwise the three run as usual. `residual` is evaluated after this layer,
    /// as in `activation(self(x) + residual)`, so hooks fire in the module order either way.
    public func callAsFunction(_ x: Tensor, adding residual: @autoclosure () -> Tensor, then activation: Activation) -> Tensor {
        guard let upper = activation.clampUpper, !activation.hasHooks, canFuse(upper: upper), !GradMode.overrides("add"),
              ForwardStop.current?.isStopped != true, x.rank >= 2, x.shape[1] == weight.count else {
            let y = self(x)
            return activation(y + residual())
        }
        let r = residual()        // may stop a truncated pass (a hook in the shortcut)
        guard r.shape == x.shape, ForwardStop.current?.isStopped != true else { return activation(self(x) + r) }
        return x.batchNormAddClamped(r, weight: weight, bias: bias, runningMean: runningMean,
                                     runningVar: runningVar, eps: eps, upper: upper)
    }

    /// `activation(self(conv(x)))` for a depthwise convolution, this batch norm and the ReLU or
    /// ReLU6 after them, as one pass where all three are invisible as separate steps (as for
    /// ``callAsFunction(_:then:)``, and the convolution frozen and without hooks too): the
    /// kernel applies the batch norm and the clamp to each output plane while it is in cache
    /// (``Tensor/conv2dBatchNormClamped(weight:bias:stride:padding:dilation:groups:batchNorm:upper:)``),
    /// with the same values and input gradient. Otherwise the layers run one by one.
    public func callAsFunction(convolving x: Tensor, with conv: Conv2d, then activation: Activation) -> Tensor {
        guard let upper = activation.clampUpper, !activation.hasHooks else { return activation(self(conv(x))) }
        return fused(x, conv, upper: upper) ?? self(conv(x), then: activation)
    }

    /// The same for an activation applied as a function: ReLU (upper = infinity) or ReLU6 (6).
    public func callAsFunction(convolving x: Tensor, with conv: Conv2d, thenClampingAt upper: Float) -> Tensor {
        fused(x, conv, upper: upper) ?? self(conv(x), thenClampingAt: upper)
    }

    /// `activation(self(conv(clamp(input.norm(x), 0, input.upper))))`: as
    /// ``callAsFunction(convolving:with:thenClampingAt:)`` with the batch norm and ReLU or ReLU6
    /// before the convolution (an inverted residual block's expand layer) applied to each input
    /// plane as the kernel reads it, when `input.norm` could fuse with its clamp too. Otherwise
    /// the layers run one by one.
    public func callAsFunction(convolving x: Tensor, with conv: Conv2d, thenClampingAt upper: Float,
                               after input: (norm: BatchNorm2d, upper: Float)) -> Tensor {
        if input.norm.canFuse(upper: input.upper), input.norm.weight.count == x.shape[1],
           let y = fused(x, conv, upper: upper, input: input) {
            return y
        }
        return self(convolving: input.norm(x, thenClampingAt: input.upper), with: conv, thenClampingAt: upper)
    }

    private func fused(_ x: Tensor, _ conv: Conv2d, upper: Float, input: (norm: BatchNorm2d, upper: Float)? = nil) -> Tensor? {
        if ForwardStop.current?.isStopped == true { return x }        // a truncated pass: as a skipped module
        let w = conv.weight, channels = w.shape[0]
        guard canFuse(upper: upper), !conv.hasHooks, !w.isDifferentiable, conv.bias?.isDifferentiable != true,
              conv.groups == channels, w.shape[1] == 1, channels == weight.count, x.rank == 4, x.shape[1] == channels,
              !GradMode.overrides("conv2d") else { return nil }
        let pad = conv.padding.resolve(inputH: x.shape[2], inputW: x.shape[3], kernel: (w.shape[2], w.shape[3]),
                                       stride: conv.stride, dilation: conv.dilation)
        let before = input.map { ($0.norm.normalization, $0.upper) }
        return x.conv2dBatchNormClamped(weight: w, bias: conv.bias, stride: conv.stride, padding: pad, dilation: conv.dilation,
                                        groups: conv.groups, batchNorm: normalization, upper: upper, input: before)
    }

    /// The eval-mode parameters as the fused tensor operations take them.
    private var normalization: (weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, eps: Float) {
        (weight, bias, runningMean, runningVar, eps)
    }

    /// Whether nothing can see this layer and the clamp after it as separate steps: no hook on
    /// this layer and no backward-rule override of the ReLU (infinity) or ReLU6 (6).
    private func clampIsUnobserved(upper: Float) -> Bool {
        precondition(upper == 6 || upper == .infinity, "only ReLU and ReLU6 fuse with batch norm")
        return !hasHooks && !GradMode.overrides(upper.isFinite ? "relu6" : "relu")
    }

    /// Whether the eval-mode fusions apply: unobserved, eval mode, weight and bias constants.
    private func canFuse(upper: Float) -> Bool {
        clampIsUnobserved(upper: upper) && !isTraining && !weight.isDifferentiable && !bias.isDifferentiable
    }

    private func fused(_ x: Tensor, upper: Float) -> Tensor? {
        if ForwardStop.current?.isStopped == true { return x }        // a truncated pass: as a skipped module
        if isTraining, clampIsUnobserved(upper: upper), x.rank >= 2,
           x.shape[1] == weight.count {
            numBatchesTracked.storage.pointer[0] += 1
            return x.batchNormTrainingClamped(weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                              momentum: momentum, eps: eps, upper: upper)
        }
        guard canFuse(upper: upper) else { return nil }
        return x.batchNormClamped(weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                  eps: eps, upper: upper)
    }
}

/// `torch.nn.InstanceNorm2d` with optional affine parameters.
public final class InstanceNorm2d: Module {
    public let weight, bias: Tensor?
    public let eps: Float

    public init(_ channels: Int, eps: Float = 1e-5, affine: Bool = false) {
        self.eps = eps
        weight = affine ? Tensor(repeating: 1, shape: [channels]) : nil
        bias = affine ? Tensor(zeros: [channels]) : nil
        super.init()
        if let weight, let bias { registerParameter("weight", weight); registerParameter("bias", bias) }
    }

    public override func forward(_ x: Tensor) -> Tensor { x.instanceNorm(weight: weight, bias: bias, eps: eps) }
}

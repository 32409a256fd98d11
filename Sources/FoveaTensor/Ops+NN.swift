import Foundation

extension Tensor {
    /// Matrix product of 2-D tensors: [m, k] x [k, n] -> [m, n] (optionally transposing either).
    public func matmul(_ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        check(rank == 2 && b.rank == 2, "matmul needs 2-D tensors, got \(shape) and \(b.shape)")
        let (m, k) = transposeA ? (shape[1], shape[0]) : (shape[0], shape[1])
        let (k2, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        check(k == k2, "matmul inner dimensions differ: \(shape) x \(b.shape)")
        let out = Tensor(zeros: [m, n])
        sgemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k,
              a: storage.pointer, lda: shape[1], b: b.storage.pointer, ldb: b.shape[1],
              c: out.storage.pointer, ldc: n)
        return out.recorded(.matmul(transposeA: transposeA, transposeB: transposeB), [self, b])
    }

    /// y = x W^T + b, x: [N, in], W: [out, in], b: [out].
    public func linear(weight: Tensor, bias: Tensor?) -> Tensor {
        let y = matmul(weight, transposeB: true)
        return bias.map { y + $0 } ?? y
    }

    /// 2-D convolution. x: [N, Cin, H, W], weight: [Cout, Cin/groups, kh, kw], bias: [Cout].
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                       padding: (top: Int, bottom: Int, left: Int, right: Int) = (0, 0, 0, 0),
                       dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
        let (g, keep) = convolutionGeometry(weight, stride: stride, padding: padding, dilation: dilation, groups: groups)
        let y = Convolution.forward(self, weight, bias, g, groups: groups, keep: keep)
        return y.recorded(.conv2d(g, groups: groups), bias.map { [self, weight, $0] } ?? [self, weight], saved: keep?.saved ?? [])
    }

    /// clamp(conv2d(x, weight, bias), 0, upper): a convolution followed by ReLU (upper =
    /// infinity) or ReLU6 (6) as one primitive, the clamp applied in place to the convolution's
    /// output. The same values and gradients as the two operations; the backward pass needs only
    /// the clamped output (dz = g where 0 < y < upper), so the unclamped one is never kept:
    /// a recorded VGG pass holds one activation per layer instead of two.
    public func conv2dClamped(weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                              padding: (top: Int, bottom: Int, left: Int, right: Int) = (0, 0, 0, 0),
                              dilation: (Int, Int) = (1, 1), groups: Int = 1, upper: Float) -> Tensor {
        check(upper == 6 || upper == .infinity, "conv2dClamped: upper must be 6 (ReLU6) or infinity (ReLU), got \(upper)")
        let (g, keep) = convolutionGeometry(weight, stride: stride, padding: padding, dilation: dilation, groups: groups)
        let y = Convolution.forward(self, weight, bias, g, groups: groups, keep: keep)
        Elementwise.reluInPlace(y, upper: upper)
        return y.recorded(.conv2dClamp(g, groups: groups, upper: upper), bias.map { [self, weight, $0] } ?? [self, weight],
                          saved: keep?.saved ?? [])
    }

    /// clamp(batchNorm(conv2d(x, weight, bias)), 0, upper) for an eval-mode batch norm with
    /// constant parameters followed by ReLU (upper = infinity) or ReLU6 (6), as one primitive:
    /// a depthwise kernel applies the batch norm and the clamp to each output plane while it is
    /// in cache (other convolutions in a second pass). The same values and input gradient as the
    /// three operations: the batch norm's fused multiply-add on the convolution's output, the
    /// clamp's NaN rules, and dz = g * weight / sqrt(var + eps) where 0 < y < upper before
    /// conv2d's backward. No gradient reaches the batch norm's tensors.
    ///
    /// `input`: an eval-mode batch norm and clamp applied to x first, on each input plane as the
    /// kernel reads it (a depthwise convolution with one output per channel and a frozen weight
    /// only): the expand layer's batch norm and ReLU6 in an inverted residual block, with the
    /// same values and gradient as running it on its own.
    public func conv2dBatchNormClamped(weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                                       padding: (top: Int, bottom: Int, left: Int, right: Int) = (0, 0, 0, 0),
                                       dilation: (Int, Int) = (1, 1), groups: Int = 1,
                                       batchNorm bn: (weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, eps: Float),
                                       upper: Float,
                                       input: (batchNorm: (weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, eps: Float),
                                               upper: Float)? = nil) -> Tensor {
        check(bn.weight.count == weight.shape[0], "batchNorm: \(bn.weight.count) channels vs conv output \(weight.shape[0])")
        let (g, keep) = convolutionGeometry(weight, stride: stride, padding: padding, dilation: dilation, groups: groups)
        let (scale, shift) = Normalization.evalScaleShift(weight: bn.weight, bias: bn.bias, runningMean: bn.runningMean,
                                                          runningVar: bn.runningVar, eps: bn.eps)
        var inputs = [self, weight, scale, shift]
        var inputMap: Convolution.AffineClamp?
        if let input {
            check(groups == shape[1] && weight.shape[0] == groups && !weight.isDifferentiable,
                         "conv2dBatchNormClamped: an input batch norm needs a frozen depthwise convolution")
            check(input.batchNorm.weight.count == shape[1], "input batchNorm: \(input.batchNorm.weight.count) channels vs \(shape[1])")
            let b = input.batchNorm
            let (s, t) = Normalization.evalScaleShift(weight: b.weight, bias: b.bias, runningMean: b.runningMean,
                                                      runningVar: b.runningVar, eps: b.eps)
            inputMap = .init(scale: s, shift: t, upper: input.upper)
            inputs += [s, t]
        }
        let y = Convolution.forward(self, weight, bias, g, groups: groups, keep: keep, input: inputMap,
                                    output: .init(scale: scale, shift: shift, upper: upper))
        if let bias { inputs.append(bias) }
        return y.recorded(.conv2dBatchNormClamp(g, groups: groups, upper: upper, inputUpper: input?.upper), inputs,
                          saved: keep?.saved ?? [])
    }

    /// The checked geometry of a convolution of this tensor by `weight`, and the buffers that
    /// keep what its backward pass would otherwise recompute: the batched im2col matrix or
    /// Winograd input tiles for the weight gradient, Winograd's filter tiles for the input's.
    private func convolutionGeometry(_ weight: Tensor, stride: (Int, Int),
                                     padding: (top: Int, bottom: Int, left: Int, right: Int),
                                     dilation: (Int, Int), groups: Int) -> (Conv2dGeometry, Convolution.Kept?) {
        check(rank == 4, "conv2d needs NCHW input, got \(shape)")
        check(weight.rank == 4 && shape[1] == weight.shape[1] * groups && weight.shape[0] % groups == 0,
                     "conv2d: input \(shape) does not match weight \(weight.shape) with groups \(groups)")
        let g = Conv2dGeometry(kernel: (weight.shape[2], weight.shape[3]), stride: stride,
                               padding: padding, dilation: dilation)
        let (ho, wo) = g.outputSize(h: shape[2], w: shape[3])
        check(ho > 0 && wo > 0, "conv2d: input \(shape) too small for kernel \(weight.shape)")
        let keep = GradMode.isEnabled && (weight.isDifferentiable || isDifferentiable)
            ? Convolution.Kept(self, weight, g, groups: groups, forWeight: weight.isDifferentiable, forInput: isDifferentiable)
            : nil
        return (g, keep)
    }

    /// Transposed 2-D convolution (the adjoint of ``conv2d(weight:bias:stride:padding:dilation:groups:)``,
    /// PyTorch `conv_transpose2d`). x: [N, Cin, H, W], weight: [Cin, Cout/groups, kh, kw], bias: [Cout].
    /// Output: (H - 1) * stride - padTop - padBottom + dilation * (kh - 1) + outputPadding.h + 1 (likewise W).
    public func convTranspose2d(weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                                padding: (top: Int, bottom: Int, left: Int, right: Int) = (0, 0, 0, 0),
                                outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
                                groups: Int = 1) -> Tensor {
        check(rank == 4, "convTranspose2d needs NCHW input, got \(shape)")
        check(weight.rank == 4 && shape[1] == weight.shape[0] && weight.shape[0] % groups == 0,
                     "convTranspose2d: input \(shape) does not match weight \(weight.shape) with groups \(groups)")
        let g = Conv2dGeometry(kernel: (weight.shape[2], weight.shape[3]), stride: stride,
                               padding: padding, dilation: dilation)
        let ho = (shape[2] - 1) * stride.0 - padding.top - padding.bottom + dilation.0 * (weight.shape[2] - 1) + outputPadding.0 + 1
        let wo = (shape[3] - 1) * stride.1 - padding.left - padding.right + dilation.1 * (weight.shape[3] - 1) + outputPadding.1 + 1
        check(ho > 0 && wo > 0, "convTranspose2d: empty output for input \(shape)")
        let outShape = [shape[0], weight.shape[1] * groups, ho, wo]
        let y = Convolution.backwardInput(self, weight, inputShape: outShape, g, groups: groups)
        if let bias { Convolution.addBias(y, bias) }
        return y.recorded(.convTranspose2d(g, groups: groups), bias.map { [self, weight, $0] } ?? [self, weight])
    }

    public func maxPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil,
                          padding: (top: Int, bottom: Int, left: Int, right: Int) = (0, 0, 0, 0),
                          dilation: (Int, Int) = (1, 1), ceilMode: Bool = false) -> Tensor {
        check(rank == 4, "maxPool2d needs NCHW input, got \(shape)")
        let g = Conv2dGeometry(kernel: kernel, stride: stride ?? kernel, padding: padding, dilation: dilation)
        let (y, index) = Pooling.maxPool(self, g, ceilMode: ceilMode)
        return y.recorded(.maxPool2d(g, ceilMode: ceilMode), [self], saved: [index])
    }

    public func avgPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil,
                          padding: (top: Int, bottom: Int, left: Int, right: Int) = (0, 0, 0, 0),
                          ceilMode: Bool = false, countIncludePad: Bool = true) -> Tensor {
        check(rank == 4, "avgPool2d needs NCHW input, got \(shape)")
        let g = Conv2dGeometry(kernel: kernel, stride: stride ?? kernel, padding: padding)
        return Pooling.avgPool(self, g, ceilMode: ceilMode, countIncludePad: countIncludePad)
            .recorded(.avgPool2d(g, ceilMode: ceilMode, countIncludePad: countIncludePad), [self])
    }

    public func adaptiveAvgPool2d(height: Int, width: Int) -> Tensor {
        check(rank == 4, "adaptiveAvgPool2d needs NCHW input, got \(shape)")
        return Pooling.adaptiveAvgPool(self, oh: height, ow: width)
            .recorded(.adaptiveAvgPool2d(h: height, w: width), [self])
    }

    /// Batch normalisation over axis 1 of [N, C, ...]:
    /// y = (x - mean) / sqrt(var + eps) * weight + bias.
    /// Training: mean and (biased) var of the batch; the running statistics are updated in place
    /// with `momentum` (PyTorch: running = (1 - m) running + m batch, unbiased var).
    /// Eval: the running statistics.
    public func batchNorm(weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                          training: Bool, momentum: Float = 0.1, eps: Float) -> Tensor {
        check(rank >= 2 && shape[1] == weight.count, "batchNorm: input \(shape) vs \(weight.count) channels")
        let (y, mean, invstd) = Normalization.batchNorm(self, weight: weight, bias: bias,
                                                        runningMean: runningMean, runningVar: runningVar,
                                                        training: training, momentum: momentum, eps: eps)
        return y.recorded(.batchNorm(eps: eps, training: training), [self, weight, bias], saved: [mean, invstd])
    }

    /// clamp(batchNorm(x), 0, upper) in one pass, for an eval-mode batch norm whose weight and
    /// bias are constants, followed by ReLU (upper = infinity) or ReLU6 (6): the same values as
    /// the two operations (same fused multiply-add, same NaN rules) and the same input gradient,
    /// dx = g * weight / sqrt(var + eps) where 0 < y < upper. No gradient reaches weight or bias.
    public func batchNormClamped(weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                                 eps: Float, upper: Float) -> Tensor {
        check(rank >= 2 && shape[1] == weight.count, "batchNorm: input \(shape) vs \(weight.count) channels")
        let (y, scale) = Normalization.batchNormClamped(self, weight: weight, bias: bias, runningMean: runningMean,
                                                        runningVar: runningVar, eps: eps, upper: upper)
        return y.recorded(.batchNormClamp(upper: upper), [self, scale])
    }

    /// Instance normalisation: each (n, c) plane of [N, C, H, W] normalised by its own mean and
    /// biased variance, then optionally scaled and shifted per channel. It is training-mode batch
    /// norm of the [1, N*C, H, W] view (each plane a channel of its own) with the weight and bias
    /// repeated for each image: one fused pass for the statistics and one for y, instead of the
    /// eight elementwise passes of mean, subtract, square, mean, divide, scale and shift.
    public func instanceNorm(weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5) -> Tensor {
        check(rank == 4, "instanceNorm needs NCHW input, got \(shape)")
        let (n, c) = (shape[0], shape[1]), planes = shape[0] * shape[1]
        func perPlane(_ t: Tensor?, _ fill: Float) -> Tensor {
            guard let t else { return Tensor(repeating: fill, shape: [planes]) }
            check(t.count == c, "instanceNorm: \(t.count) parameters for \(c) channels")
            return n == 1 ? t.reshaped([c]) : t.reshaped([1, c]).expanded(to: [n, c]).reshaped([planes])
        }
        // The running statistics batch norm updates are not used.
        let y = reshaped([1, planes, shape[2], shape[3]])
            .batchNorm(weight: perPlane(weight, 1), bias: perPlane(bias, 0), runningMean: Tensor(zeros: [planes]),
                       runningVar: Tensor(repeating: 1, shape: [planes]), training: true, eps: eps)
        return y.reshaped(shape)
    }

    /// Each (n, c) plane's mean and standard deviation sqrt(biased variance + eps), as
    /// [N, C, 2] (mean, std) from [N, C, ...]: one pass for the mean and one for the squared
    /// deviations, and one for the gradient, instead of the full-size temporaries of mean,
    /// subtract, square and mean (AdaIN's statistics and style loss).
    public func planeMoments(eps: Float = 1e-5) -> Tensor {
        check(rank >= 3, "planeMoments needs [N, C, ...] input, got \(shape)")
        let planes = shape[0] * shape[1], m = count / Swift.max(planes, 1), p = storage.pointer
        let y = Tensor(overwriting: [shape[0], shape[1], 2]) { out in
            Parallel.forEach(planes) { chunk in
                for plane in chunk {
                    let (mean, squares) = Normalization.meanAndSquaredDeviations(p + plane * m, m)
                    out[2 * plane] = mean
                    out[2 * plane + 1] = (squares / Float(m) + eps).squareRoot()
                }
            }
        }
        return y.recorded(.planeMoments(eps: eps), [self])
    }

    /// Cross-entropy of logits [N, C] against class indices, differentiable:
    /// -sum_n log softmax(self_n)[label_n], divided by N when `mean` (as
    /// `torch.nn.functional.cross_entropy` with reduction "mean" or "sum").
    public func crossEntropy(labels: [Int], mean: Bool = true) -> Tensor {
        check(rank == 2 && shape[0] == labels.count, "crossEntropy: logits \(shape) for \(labels.count) labels")
        let (n, c) = (shape[0], shape[1])
        let oneHot = Tensor(shape: [n, c]) { out in
            for (i, label) in labels.enumerated() {
                check(label >= 0 && label < c, "crossEntropy: label \(label) out of range 0..<\(c)")
                out[i * c + label] = 1
            }
        }
        let total = -(logSoftmax(axis: 1) * oneHot).sum()
        return mean ? total / Float(n) : total
    }

    /// Inverted dropout: in training, zeroes elements with probability p and scales the rest by
    /// 1/(1-p); identity otherwise.
    public func dropout(_ p: Float, training: Bool, generator: inout some RandomNumberGenerator) -> Tensor {
        guard training, p > 0 else { return self }
        let keep = 1 - p
        let mask = Tensor(shape: shape) { m in
            for i in 0..<m.count { m[i] = Float.random(in: 0..<1, using: &generator) < keep ? 1 / keep : 0 }
        }
        return self * mask
    }
}

/// Batch-norm kernel, shared by forward and the rule.
enum Normalization {
    /// (sum of p[0..<count], sum of squares), in 8 Float lanes.
    @inline(__always)
    static func sums(_ p: UnsafePointer<Float>, _ count: Int) -> (Float, Float) {
        var s = SIMD8<Float>(), s2 = SIMD8<Float>()
        var j = 0
        while j + 8 <= count {
            let v = UnsafeRawPointer(p + j).loadUnaligned(as: SIMD8<Float>.self)
            s += v
            s2 = s2.addingProduct(v, v)
            j += 8
        }
        var (a, a2) = (s.sum(), s2.sum())
        while j < count { a += p[j]; a2 += p[j] * p[j]; j += 1 }
        return (a, a2)
    }

    /// (mean of p[0..<count], sum of (p - mean)^2): two passes, so a plane whose values lie
    /// close together far from 0 keeps its small variance (no E[x^2] - mean^2 cancellation).
    static func meanAndSquaredDeviations(_ p: UnsafePointer<Float>, _ count: Int) -> (Float, Float) {
        guard count > 0 else { return (0, 0) }
        let mean = sums(p, count).0 / Float(count), m = SIMD8<Float>(repeating: mean)
        var s = SIMD8<Float>()
        var j = 0
        while j + 8 <= count {
            let d = UnsafeRawPointer(p + j).loadUnaligned(as: SIMD8<Float>.self) - m
            s = s.addingProduct(d, d)
            j += 8
        }
        var total = s.sum()
        while j < count { total += (p[j] - mean) * (p[j] - mean); j += 1 }
        return (mean, total)
    }

    /// (sum of g, sum of g (x - mean)) over count elements, in 8 Float lanes; with `clamp`, g
    /// counts only where 0 < fma(x, scale, shift) < upper (the gradient through a clamp after
    /// the batch norm, decided on the value the forward pass clamped).
    @inline(__always)
    static func gradientSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, mean: Float, _ count: Int,
                             clamp: (scale: Float, shift: Float, upper: Float)? = nil) -> (Float, Float) {
        var s = SIMD8<Float>(), sx = SIMD8<Float>()
        let m = SIMD8<Float>(repeating: mean)
        var j = 0
        while j + 8 <= count {
            let xv = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
            var gv = UnsafeRawPointer(g + j).loadUnaligned(as: SIMD8<Float>.self)
            if let clamp { gv = clampMasked(gv, x: xv, clamp) }
            s += gv
            sx = sx.addingProduct(gv, xv - m)
            j += 8
        }
        var (a, b) = (s.sum(), sx.sum())
        while j < count {
            let gj = clamp.map { clampMasked(g[j], x: x[j], $0) } ?? g[j]
            a += gj; b += gj * (x[j] - mean); j += 1
        }
        return (a, b)
    }

    /// Returns (y, scale [C]) for ``Tensor/batchNormClamped(weight:bias:runningMean:runningVar:eps:upper:)``.
    static func batchNormClamped(_ x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                                 eps: Float, upper: Float) -> (Tensor, Tensor) {
        let (scale, shift) = evalScaleShift(weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar, eps: eps)
        return (affineClamped(x, scale: scale, shift: shift, upper: upper), scale)
    }

    /// As in batchNorm's eval path: scale = w / sqrt(var + eps), shift = b - mean * scale, [C] each.
    static func evalScaleShift(weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                               eps: Float) -> (scale: Tensor, shift: Tensor) {
        let c = weight.count, pw = weight.storage.pointer, pb = bias.storage.pointer
        let rm = runningMean.storage.pointer, rv = runningVar.storage.pointer
        let scale = Tensor(overwriting: [c]) { out in for ch in 0..<c { out[ch] = pw[ch] * (1 / (rv[ch] + eps).squareRoot()) } }
        let ps = scale.storage.pointer
        let shift = Tensor(overwriting: [c]) { out in for ch in 0..<c { out[ch] = pb[ch] - rm[ch] * ps[ch] } }
        return (scale, shift)
    }

    /// y = clamp(shift[c] + x * scale[c], 0, upper) over [N, C, ...], channels split over the cores.
    static func affineClamped(_ x: Tensor, scale: Tensor, shift: Tensor, upper: Float) -> Tensor {
        let ps = scale.storage.pointer, pt = shift.storage.pointer, px = x.storage.pointer
        return Tensor(overwriting: x.shape) { out in
            let o = out.baseAddress!
            forEachChannelPlane(x.shape) { ch, off, hw in
                affineClamp(px + off, into: o + off, count: hw, scale: ps[ch], shift: pt[ch], upper: upper)
            }
        }
    }

    /// body(channel, offset, size) for every (image, channel) plane of an [N, C, ...] tensor,
    /// channels split over the cores.
    @inline(__always)
    static func forEachChannelPlane(_ shape: [Int], _ body: (Int, Int, Int) -> Void) {
        let (n, c) = (shape[0], shape[1]), hw = shape.dropFirst(2).reduce(1, *)
        Parallel.forEach(c) { chunk in
            for ch in chunk {
                for b in 0..<n { body(ch, (b * c + ch) * hw, hw) }
            }
        }
    }

    /// Eight lanes of clamp(shift + p * scale, 0, upper): one fused multiply-add, then ReLU's
    /// value rules.
    @inline(__always)
    static func affineClamp(_ p: SIMD8<Float>, scale a: SIMD8<Float>, shift: SIMD8<Float>, cap: SIMD8<Float>,
                            bounded: Bool) -> SIMD8<Float> {
        Elementwise.clamp(shift.addingProduct(p, a), cap: cap, bounded: bounded)
    }

    /// Eight lanes of g * scale where 0 < y < upper, else 0.
    @inline(__always)
    static func clampGradient(_ g: SIMD8<Float>, y: SIMD8<Float>, scale a: SIMD8<Float>, cap: SIMD8<Float>) -> SIMD8<Float> {
        (g * a).replacing(with: 0, where: .!((y .> 0) .& (y .< cap)))
    }

    /// q[i] = clamp(shift + p[i] * scale, 0, upper) (one fused multiply-add, then ReLU's value
    /// rules), eight lanes at a time; q may be p.
    @inline(__always)
    static func affineClamp(_ p: UnsafePointer<Float>, into q: UnsafeMutablePointer<Float>, count: Int,
                            scale a: Float, shift: Float, upper: Float) {
        let bounded = upper.isFinite, cap = SIMD8<Float>(repeating: upper)
        let av = SIMD8<Float>(repeating: a), sv = SIMD8<Float>(repeating: shift)
        Elementwise.forLanes(0..<count, into: q, vector: { affineClamp(Elementwise.lanes(p, $0), scale: av, shift: sv, cap: cap, bounded: bounded) },
                             scalar: { Elementwise.clamp(shift.addingProduct(p[$0], a), upper: upper, bounded: bounded) })
    }

    /// dx = g * scale[c] where 0 < y < upper, else 0.
    static func batchNormClampedBackward(_ g: Tensor, y: Tensor, scale: Tensor, upper: Float) -> Tensor {
        let pg = g.storage.pointer, py = y.storage.pointer, ps = scale.storage.pointer
        return Tensor(overwriting: y.shape) { out in
            let o = out.baseAddress!
            forEachChannelPlane(y.shape) { ch, off, hw in
                clampGradient(pg + off, y: py + off, into: o + off, count: hw, scale: ps[ch], upper: upper)
            }
        }
    }

    /// q[i] = g[i] * scale where 0 < y[i] < upper, else 0 (the gradient through a clamp whose
    /// output is y, then through the batch norm's scale), eight lanes at a time; q may be g.
    @inline(__always)
    static func clampGradient(_ g: UnsafePointer<Float>, y: UnsafePointer<Float>, into q: UnsafeMutablePointer<Float>,
                              count: Int, scale a: Float, upper: Float) {
        let av = SIMD8<Float>(repeating: a), cap = SIMD8<Float>(repeating: upper)
        Elementwise.forLanes(0..<count, into: q, vector: { clampGradient(Elementwise.lanes(g, $0), y: Elementwise.lanes(y, $0), scale: av, cap: cap) },
                             scalar: { y[$0] > 0 && y[$0] < upper ? g[$0] * a : 0 })
    }

    /// The same where y = clamp(shift + z * scale, 0, upper) is recomputed from the clamp's input
    /// z exactly as ``affineClamp(_:into:count:scale:shift:upper:)`` makes it (same lanes, same
    /// tail), so the gradient is bit-identical to the one through a stored y.
    @inline(__always)
    static func affineClampGradient(_ g: UnsafePointer<Float>, z: UnsafePointer<Float>, into q: UnsafeMutablePointer<Float>,
                                    count: Int, scale a: Float, shift: Float, upper: Float) {
        let bounded = upper.isFinite, cap = SIMD8<Float>(repeating: upper)
        let av = SIMD8<Float>(repeating: a), sv = SIMD8<Float>(repeating: shift)
        Elementwise.forLanes(0..<count, into: q, vector: { j in
            let y = affineClamp(Elementwise.lanes(z, j), scale: av, shift: sv, cap: cap, bounded: bounded)
            return clampGradient(Elementwise.lanes(g, j), y: y, scale: av, cap: cap)
        }, scalar: { j in
            let y = Elementwise.clamp(shift.addingProduct(z[j], a), upper: upper, bounded: bounded)
            return y > 0 && y < upper ? g[j] * a : 0
        })
    }

    /// A per-channel map applied to one (image, channel) plane of count elements, where a fused
    /// kernel has it in cache. Pointers are to whole [N, C, H, W] tensors or [C] vectors.
    enum PlaneMap {
        /// clamp(shift[c] + x * scale[c], 0, upper): an eval batch norm and the ReLU(6) after it.
        case affineClamp(scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, upper: Float)
        /// g * scale[c] where 0 < y < upper: the gradient back through that pair, given its output y.
        case clampGradient(y: UnsafePointer<Float>, scale: UnsafePointer<Float>, upper: Float)
        /// The same given the pair's input z (y recomputed).
        case affineClampGradient(z: UnsafePointer<Float>, scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, upper: Float)

        /// dst = map(src) for plane `plane` (offset plane * count in y or z) of channel `channel`;
        /// dst may be src.
        @inline(__always)
        func apply(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, plane: Int, channel c: Int, count: Int) {
            switch self {
            case .affineClamp(let scale, let shift, let upper):
                Normalization.affineClamp(src, into: dst, count: count, scale: scale[c], shift: shift[c], upper: upper)
            case .clampGradient(let y, let scale, let upper):
                Normalization.clampGradient(src, y: y + plane * count, into: dst, count: count, scale: scale[c], upper: upper)
            case .affineClampGradient(let z, let scale, let shift, let upper):
                Normalization.affineClampGradient(src, z: z + plane * count, into: dst, count: count, scale: scale[c], shift: shift[c], upper: upper)
            }
        }

        /// dst = map(src) for a plane of `rows` x `width` (width >= 8) whose rows lie `stride`
        /// floats apart in src and contiguously in dst (plane `plane`, as in apply): eight lanes
        /// at a time, the last eight of a row overlapping the ones before, with the same lane
        /// functions as ``apply(_:into:plane:channel:count:)``. src must not be dst.
        @inline(__always)
        func applyRows(_ src: UnsafePointer<Float>, stride: Int, rows: Int, width: Int,
                       into dst: UnsafeMutablePointer<Float>, plane: Int, channel c: Int) {
            typealias V = SIMD8<Float>
            @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
            // dst[i] = f(src lanes, i) for i = oy * width + x.
            @inline(__always) func eachBlock(_ f: (V, Int) -> V) {
                for oy in 0..<rows {
                    let row = src + oy * stride, first = oy * width
                    var x = 0
                    while true {
                        let start = Swift.min(x, width - 8)
                        UnsafeMutableRawPointer(dst + first + start).storeBytes(of: f(load(row + start), first + start), as: V.self)
                        if start == width - 8 { break }
                        x += 8
                    }
                }
            }
            let base = plane * rows * width
            switch self {
            case .affineClamp(let scale, let shift, let upper):
                let a = V(repeating: scale[c]), b = V(repeating: shift[c]), cap = V(repeating: upper), bounded = upper.isFinite
                eachBlock { v, _ in Normalization.affineClamp(v, scale: a, shift: b, cap: cap, bounded: bounded) }
            case .clampGradient(let y, let scale, let upper):
                let a = V(repeating: scale[c]), cap = V(repeating: upper), py = y + base
                eachBlock { g, i in Normalization.clampGradient(g, y: load(py + i), scale: a, cap: cap) }
            case .affineClampGradient(let z, let scale, let shift, let upper):
                let a = V(repeating: scale[c]), b = V(repeating: shift[c]), cap = V(repeating: upper), bounded = upper.isFinite
                let pz = z + base
                eachBlock { g, i in
                    let y = Normalization.affineClamp(load(pz + i), scale: a, shift: b, cap: cap, bounded: bounded)
                    return Normalization.clampGradient(g, y: y, scale: a, cap: cap)
                }
            }
        }
    }

    /// Returns (y, mean [C], invstd [C]).
    static func batchNorm(_ x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                          training: Bool, momentum: Float, eps: Float) -> (Tensor, Tensor, Tensor) {
        let c = x.shape[1], n = x.shape[0], hw = x.count / (n * c)
        let px = x.storage.pointer
        let (mean, invstd) = training
            ? batchStatistics(x, runningMean: runningMean, runningVar: runningVar, momentum: momentum, eps: eps)
            : (runningMean.copy(), Tensor(overwriting: [c]) { out in
                let rv = runningVar.storage.pointer
                for ch in 0..<c { out[ch] = 1 / (rv[ch] + eps).squareRoot() }
            })
        let pm = mean.storage.pointer, pi = invstd.storage.pointer
        let pw = weight.storage.pointer, pb = bias.storage.pointer
        let y = Tensor(overwriting: x.shape) { out in
            let o = out.baseAddress!
            Parallel.forEach(c) { chunk in
                for ch in chunk {
                    let scale = pw[ch] * pi[ch], shift = pb[ch] - pm[ch] * scale
                    for b in 0..<n {
                        let p = px + (b * c + ch) * hw, q = o + (b * c + ch) * hw
                        for j in 0..<hw { q[j] = shift.addingProduct(p[j], scale) }     // fma(x, scale, shift)
                    }
                }
            }
        }
        return (y, mean, invstd)
    }
}

/// Training-mode batch norm with the ReLU or ReLU6 after it as one primitive: the forward pass
/// never writes the batch norm's own output, and the backward pass recomputes the clamp's mask
/// from x, which batch norm's gradient reads anyway.
extension Tensor {
    /// clamp(batchNorm(x, training: true), 0, upper) for a training-mode batch norm followed by
    /// ReLU (upper = infinity) or ReLU6 (6): the same values, running-statistics update and
    /// gradients (to x, weight and bias) as the two operations, in one pass over x after the
    /// statistics and one for each of the backward's two, without the batch norm's output as a
    /// tensor of its own.
    public func batchNormTrainingClamped(weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                                         momentum: Float, eps: Float, upper: Float) -> Tensor {
        check(rank >= 2 && shape[1] == weight.count, "batchNorm: input \(shape) vs \(weight.count) channels")
        let (mean, invstd) = Normalization.batchStatistics(self, runningMean: runningMean, runningVar: runningVar,
                                                           momentum: momentum, eps: eps)
        let (scale, shift) = Normalization.trainScaleShift(weight: weight, bias: bias, mean: mean, invstd: invstd)
        let y = Normalization.affineClamped(self, scale: scale, shift: shift, upper: upper)
        return y.recorded(.batchNormTrainClamp(eps: eps, upper: upper), [self, weight, bias], saved: [mean, invstd, scale, shift])
    }
}

extension Normalization {
    /// As in batchNorm's training path: scale = w invstd, shift = b - mean scale, [C] each.
    static func trainScaleShift(weight: Tensor, bias: Tensor, mean: Tensor, invstd: Tensor) -> (scale: Tensor, shift: Tensor) {
        let c = weight.count, pw = weight.storage.pointer, pb = bias.storage.pointer
        let pm = mean.storage.pointer, pi = invstd.storage.pointer
        let scale = Tensor(overwriting: [c]) { out in for ch in 0..<c { out[ch] = pw[ch] * pi[ch] } }
        let ps = scale.storage.pointer
        let shift = Tensor(overwriting: [c]) { out in for ch in 0..<c { out[ch] = pb[ch] - pm[ch] * ps[ch] } }
        return (scale, shift)
    }

    /// The batch's (mean [C], invstd [C]) over every dimension but 1, with the running
    /// statistics updated in place (PyTorch: running = (1 - m) running + m batch, unbiased var).
    static func batchStatistics(_ x: Tensor, runningMean: Tensor, runningVar: Tensor,
                                momentum: Float, eps: Float) -> (mean: Tensor, invstd: Tensor) {
        let c = x.shape[1], n = x.shape[0], hw = x.count / (n * c)
        let px = x.storage.pointer
        let mean = Tensor(zeros: [c]), invstd = Tensor(zeros: [c])
        let pm = mean.storage.pointer, pi = invstd.storage.pointer
        let m = Float(n * hw)
        let rm = runningMean.storage.pointer, rv = runningVar.storage.pointer
        Parallel.forEach(c) { chunk in
            for ch in chunk {
                // Per plane in Float (8 lanes), across planes in Double.
                var s: Double = 0, s2: Double = 0
                for b in 0..<n {
                    let (a, a2) = Normalization.sums(px + (b * c + ch) * hw, hw)
                    s += Double(a); s2 += Double(a2)
                }
                let mu = s / Double(m)
                let variance = max(s2 / Double(m) - mu * mu, 0)
                pm[ch] = Float(mu)
                pi[ch] = Float(1 / (variance + Double(eps)).squareRoot())
                rm[ch] = (1 - momentum) * rm[ch] + momentum * Float(mu)
                let unbiased = m > 1 ? variance * Double(m) / Double(m - 1) : variance
                rv[ch] = (1 - momentum) * rv[ch] + momentum * Float(unbiased)
            }
        }
        return (mean, invstd)
    }

    /// Eight lanes of g where 0 < fma(x, scale, shift) < upper, else 0.
    @inline(__always)
    static func clampMasked(_ g: SIMD8<Float>, x: SIMD8<Float>, _ clamp: (scale: Float, shift: Float, upper: Float)) -> SIMD8<Float> {
        let z = SIMD8<Float>(repeating: clamp.shift).addingProduct(x, SIMD8<Float>(repeating: clamp.scale))
        return g.replacing(with: 0, where: .!((z .> 0) .& (z .< SIMD8<Float>(repeating: clamp.upper))))
    }

    @inline(__always)
    static func clampMasked(_ g: Float, x: Float, _ clamp: (scale: Float, shift: Float, upper: Float)) -> Float {
        let z = clamp.shift.addingProduct(x, clamp.scale)
        return z > 0 && z < clamp.upper ? g : 0
    }

    /// Training batch norm's dx through a clamp after it: dx = scale (g' - meanG - xhat meanGX),
    /// xhat = (x - mean) invstd, g' = ``clampMasked(_:x:_:)``.
    static func clampedTrainingGradient(_ g: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                        into q: UnsafeMutablePointer<Float>, count: Int, scale: Float, mean: Float,
                                        invstd: Float, meanG: Float, meanGX: Float,
                                        clamp: (scale: Float, shift: Float, upper: Float)) {
        let a = SIMD8<Float>(repeating: scale)
        let mv = SIMD8<Float>(repeating: mean), iv = SIMD8<Float>(repeating: invstd)
        let mg = SIMD8<Float>(repeating: meanG), mgx = SIMD8<Float>(repeating: meanGX)
        Elementwise.forLanes(0..<count, into: q, vector: { j in
            let xv = Elementwise.lanes(x, j)
            return a * (clampMasked(Elementwise.lanes(g, j), x: xv, clamp) - mg - (xv - mv) * iv * mgx)
        }, scalar: { j in scale * (clampMasked(g[j], x: x[j], clamp) - meanG - (x[j] - mean) * invstd * meanGX) })
    }
}

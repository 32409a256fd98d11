/// A residual block's tail, clamp(batchNorm(x) + r, 0, upper), as one primitive: an eval-mode
/// batch norm, the shortcut's add and the ReLU (or ReLU6) after it in one pass over the block's
/// largest tensors instead of three, and one pass back.
extension Tensor {
    /// clamp(x * scale[c] + shift[c] + residual, 0, upper) with scale = weight / sqrt(var + eps)
    /// and shift = bias - mean * scale, for an eval-mode batch norm whose weight and bias are
    /// constants: the same values as the three operations (the batch norm's fused multiply-add,
    /// then the add, then ReLU's NaN rules) and the same gradients, dx = g * scale and
    /// dresidual = g where 0 < y < upper. No gradient reaches weight or bias.
    public func batchNormAddClamped(_ residual: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor,
                                    runningVar: Tensor, eps: Float, upper: Float) -> Tensor {
        check(rank >= 2 && shape[1] == weight.count, "batchNorm: input \(shape) vs \(weight.count) channels")
        check(residual.shape == shape, "batchNormAddClamped: residual \(residual.shape) vs input \(shape)")
        let (scale, shift) = Normalization.evalScaleShift(weight: weight, bias: bias, runningMean: runningMean,
                                                          runningVar: runningVar, eps: eps)
        let px = storage.pointer, pr = residual.storage.pointer
        let ps = scale.storage.pointer, pt = shift.storage.pointer
        let y = withExtendedLifetime(shift) {                  // pt is read inside
            Tensor(overwriting: shape) { out in
                let o = out.baseAddress!
                Normalization.forEachChannelPlane(shape) { ch, off, hw in
                    Normalization.affineAddClamp(px + off, residual: pr + off, into: o + off, count: hw,
                                                 scale: ps[ch], shift: pt[ch], upper: upper)
                }
            }
        }
        return y.recorded(.batchNormAddClamp(upper: upper), [self, residual, scale])
    }
}

extension Normalization {
    /// q[i] = clamp((shift + p[i] * scale) + r[i], 0, upper), eight lanes at a time.
    @inline(__always)
    static func affineAddClamp(_ p: UnsafePointer<Float>, residual r: UnsafePointer<Float>, into q: UnsafeMutablePointer<Float>,
                               count: Int, scale a: Float, shift: Float, upper: Float) {
        let bounded = upper.isFinite, cap = SIMD8<Float>(repeating: upper)
        let av = SIMD8<Float>(repeating: a), sv = SIMD8<Float>(repeating: shift)
        Elementwise.forLanes(0..<count, into: q, vector: { j in
            Elementwise.clamp(sv.addingProduct(Elementwise.lanes(p, j), av) + Elementwise.lanes(r, j), cap: cap, bounded: bounded)
        }, scalar: { j in Elementwise.clamp(shift.addingProduct(p[j], a) + r[j], upper: upper, bounded: bounded) })
    }

    /// (dx, dresidual) of ``Tensor/batchNormAddClamped(_:weight:bias:runningMean:runningVar:eps:upper:)``:
    /// dresidual = g where 0 < y < upper, else 0; dx = dresidual * scale[c]. Each only where
    /// needed, plane by plane, so the second reads g and y from cache.
    static func batchNormAddClampedBackward(_ g: Tensor, y: Tensor, scale: Tensor, upper: Float,
                                            needsInput: Bool, needsResidual: Bool) -> (Tensor?, Tensor?) {
        let pg = g.storage.pointer, py = y.storage.pointer, ps = scale.storage.pointer
        let dx = needsInput ? Tensor(overwriting: y.shape) { _ in } : nil
        let dr = needsResidual ? Tensor(overwriting: y.shape) { _ in } : nil
        let px = dx?.storage.pointer, pr = dr?.storage.pointer
        forEachChannelPlane(y.shape) { ch, off, hw in
            if let pr { clampGradient(pg + off, y: py + off, into: pr + off, count: hw, scale: 1, upper: upper) }
            if let px { clampGradient(pg + off, y: py + off, into: px + off, count: hw, scale: ps[ch], upper: upper) }
        }
        return (dx, dr)
    }
}

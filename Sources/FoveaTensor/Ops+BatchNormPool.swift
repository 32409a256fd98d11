/// Training-mode batch norm, ReLU (or ReLU6) and 2x2 max pooling as one primitive: the clamped
/// batch norm output is made one plane at a time in a scratch plane and pooled from there, so
/// the full-size activation is never written; the backward pass reads the pooled gradient and
/// the argmax of each window and never materialises the sparse full-size gradient that max
/// pooling's backward would zero and scatter into, nor reads it twice in batch norm's passes.
extension Tensor {
    /// maxPool2d(clamp(batchNorm(x, training: true), 0, upper), kernel 2, stride 2) for [N, C, H, W]
    /// (windows that lie inside the input: H and W floor-halved): the same values, running
    /// statistics update and argmax choices as the three operations, and their gradients to x,
    /// weight and bias up to the order of the sums.
    public func batchNormTrainingClampedMaxPool2x2(weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                                                   momentum: Float, eps: Float, upper: Float) -> Tensor {
        check(rank == 4 && shape[1] == weight.count, "batchNorm: input \(shape) vs \(weight.count) channels")
        check(shape[2] >= 2 && shape[3] >= 2, "maxPool2d: a 2x2 window needs 2x2 input, got \(shape)")
        let (mean, invstd) = Normalization.batchStatistics(self, runningMean: runningMean, runningVar: runningVar,
                                                           momentum: momentum, eps: eps)
        let (scale, shift) = Normalization.trainScaleShift(weight: weight, bias: bias, mean: mean, invstd: invstd)
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3]), (oh, ow) = (h / 2, w / 2)
        let out = Tensor(overwriting: [n, c, oh, ow]) { _ in }, index = Tensor(overwriting: [n, c, oh, ow]) { _ in }
        let inputAtMax = Tensor(overwriting: [n, c, oh, ow]) { _ in }
        let px = storage.pointer, po = out.storage.pointer, pi = index.storage.pointer, pxk = inputAtMax.storage.pointer
        let ps = scale.storage.pointer, pt = shift.storage.pointer
        // Pooling.maxPool's planeTransform would pool the same way, but x at each argmax is
        // read here while the input plane is still in cache.
        withExtendedLifetime(shift) {                          // pt is read inside
            Parallel.forEach(c) { chunk in
                let plane = UnsafeMutablePointer<Float>.allocate(capacity: h * w)
                defer { plane.deallocate() }
                for ch in chunk {
                    for b in 0..<n {
                        let (image, pooled) = ((b * c + ch) * h * w, (b * c + ch) * oh * ow)
                        Normalization.affineClamp(px + image, into: plane, count: h * w, scale: ps[ch], shift: pt[ch], upper: upper)
                        Pooling.maxPool2x2(plane, w: w, oh: oh, ow: ow, out: po + pooled, argmax: pi + pooled)
                        for j in pooled..<(pooled + oh * ow) { pxk[j] = px[image + Int(pi[j])] }
                    }
                }
            }
        }
        return out.recorded(.batchNormTrainClampMaxPool(eps: eps, upper: upper), [self, weight, bias],
                            saved: [mean, invstd, scale, index, inputAtMax])
    }
}

extension Normalization {
    /// [dx, dweight, dbias] of ``Tensor/batchNormTrainingClampedMaxPool2x2(weight:bias:runningMean:runningVar:momentum:eps:upper:)``
    /// from the pooled gradient gp and pooled output p: the batch norm's gradient gm is gp[j]
    /// at window j's argmax where 0 < p[j] < upper and zero elsewhere, so its sums run over the
    /// windows (with x at each argmax, `inputAtMax`, saved by the forward pass), and
    /// dx = scale (gm - sum(gm)/M - xhat sum(gm xhat)/M) is written for gm = 0 everywhere, then at
    /// each argmax with its gm (``batchNormBackward(_:x:weight:mean:invstd:training:needs:clamp:)``'s
    /// formula, element by element).
    static func batchNormClampMaxPoolBackward(_ gp: Tensor, pooled p: Tensor, x: Tensor, weight: Tensor, mean: Tensor,
                                              invstd: Tensor, index: Tensor, inputAtMax: Tensor, upper: Float,
                                              needs: [Bool]) -> [Tensor?] {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]), (oh, ow) = (p.shape[2], p.shape[3])
        let (hw, windows, m) = (h * w, oh * ow, Float(n * h * w))
        let px = x.storage.pointer, pg = gp.storage.pointer, pp = p.storage.pointer, pk = index.storage.pointer
        let pxk = inputAtMax.storage.pointer
        let pw = weight.storage.pointer, pm = mean.storage.pointer, pi = invstd.storage.pointer
        let dw = Tensor(zeros: [c]), db = Tensor(zeros: [c])
        let pdw = dw.storage.pointer, pdb = db.storage.pointer
        @inline(__always) func maskedGradient(_ j: Int) -> Float { pp[j] > 0 && pp[j] < upper ? pg[j] : 0 }
        // Eight windows at a time, x at their argmaxes read from inputAtMax.
        let cap = SIMD8<Float>(repeating: upper)
        @inline(__always) func maskedGradients(_ j: Int) -> SIMD8<Float> {
            let pv = UnsafeRawPointer(pp + j).loadUnaligned(as: SIMD8<Float>.self)
            return UnsafeRawPointer(pg + j).loadUnaligned(as: SIMD8<Float>.self).replacing(with: 0, where: .!((pv .> 0) .& (pv .< cap)))
        }
        Parallel.forEach(c) { chunk in
            for ch in chunk {
                var sg = SIMD8<Float>(), sgx = SIMD8<Float>(), sgTail: Float = 0, sgxTail: Float = 0
                let mu = pm[ch], muV = SIMD8<Float>(repeating: pm[ch])
                for b in 0..<n {
                    let pooled = (b * c + ch) * windows
                    var j = pooled
                    while j + 8 <= pooled + windows {
                        let gm = maskedGradients(j)
                        sg += gm
                        sgx = sgx.addingProduct(gm, UnsafeRawPointer(pxk + j).loadUnaligned(as: SIMD8<Float>.self) - muV)
                        j += 8
                    }
                    while j < pooled + windows {
                        let gm = maskedGradient(j)
                        sgTail += gm
                        sgxTail += gm * (pxk[j] - mu)
                        j += 1
                    }
                }
                pdb[ch] = sg.sum() + sgTail
                pdw[ch] = (sgx.sum() + sgxTail) * pi[ch]
            }
        }
        guard needs[0] else { return [nil, needs[1] ? dw : nil, needs[2] ? db : nil] }
        let dx = Tensor(overwriting: x.shape) { out in
            let o = out.baseAddress!
            Parallel.forEach(c) { chunk in
                for ch in chunk {
                    let (scale, mu, inv) = (pw[ch] * pi[ch], pm[ch], pi[ch])
                    let meanG = pdb[ch] / m, meanGX = pdw[ch] / m
                    @inline(__always) func gradient(_ gm: Float, _ x: Float) -> Float { scale * (gm - meanG - (x - mu) * inv * meanGX) }
                    for b in 0..<n {
                        let (image, pooled) = ((b * c + ch) * hw, (b * c + ch) * windows)
                        let (xs, os) = (px + image, o + image)
                        let (sv, meanGV, meanGXV) = (SIMD8<Float>(repeating: scale), SIMD8<Float>(repeating: meanG), SIMD8<Float>(repeating: meanGX))
                        let (muV, invV) = (SIMD8<Float>(repeating: mu), SIMD8<Float>(repeating: inv))
                        Elementwise.forLanes(0..<hw, into: os, vector: { sv * (SIMD8<Float>() - meanGV - (Elementwise.lanes(xs, $0) - muV) * invV * meanGXV) },
                                             scalar: { gradient(0, xs[$0]) })
                        var j = pooled
                        while j + 8 <= pooled + windows {
                            let gm = maskedGradients(j)
                            if any(gm .!= 0) {
                                for lane in 0..<8 where gm[lane] != 0 { os[Int(pk[j + lane])] = gradient(gm[lane], pxk[j + lane]) }
                            }
                            j += 8
                        }
                        while j < pooled + windows {
                            let gm = maskedGradient(j)
                            if gm != 0 { os[Int(pk[j])] = gradient(gm, pxk[j]) }
                            j += 1
                        }
                    }
                }
            }
        }
        return [dx, needs[1] ? dw : nil, needs[2] ? db : nil]
    }
}

/// The same in eval mode, for any max pooling: a frozen batch norm, ReLU or ReLU6 and the pool
/// (ResNet's stem, fashion-cnn in evaluation) without the full-size activation.
extension Tensor {
    /// maxPool2d(clamp(batchNorm(x), 0, upper)) for an eval-mode batch norm whose weight and bias
    /// are constants: the same values and argmax choices as the three operations and the same
    /// input gradient, dx = scale[c] * (the pooled gradients routed to each argmax) where
    /// 0 < y < upper. No gradient reaches weight or bias.
    public func batchNormClampedMaxPool(weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, eps: Float,
                                        upper: Float, kernel: (Int, Int), stride: (Int, Int),
                                        padding: (top: Int, bottom: Int, left: Int, right: Int), ceilMode: Bool) -> Tensor {
        check(rank == 4 && shape[1] == weight.count, "batchNorm: input \(shape) vs \(weight.count) channels")
        let g = Conv2dGeometry(kernel: kernel, stride: stride, padding: padding, dilation: (1, 1))
        let (scale, shift) = Normalization.evalScaleShift(weight: weight, bias: bias, runningMean: runningMean,
                                                          runningVar: runningVar, eps: eps)
        let (c, hw) = (shape[1], shape[2] * shape[3]), ps = scale.storage.pointer, pt = shift.storage.pointer
        let (y, index) = withExtendedLifetime(shift) {         // pt is read inside
            Pooling.maxPool(self, g, ceilMode: ceilMode) { plane, src, dst in
                Normalization.affineClamp(src, into: dst, count: hw, scale: ps[plane % c], shift: pt[plane % c], upper: upper)
            }
        }
        return y.recorded(.batchNormClampMaxPool(g, upper: upper), [self, scale], saved: [index])
    }
}

extension Normalization {
    /// dx of ``Tensor/batchNormClampedMaxPool(weight:bias:runningMean:runningVar:eps:upper:kernel:stride:padding:ceilMode:)``:
    /// each window's gradient added at its argmax where 0 < p < upper (windows may share one),
    /// then each plane times its channel's scale, as max pooling's backward and then the
    /// clamped batch norm's would.
    static func batchNormClampMaxPoolBackward(_ gp: Tensor, pooled p: Tensor, index: Tensor, inputShape: [Int],
                                              scale: Tensor, upper: Float) -> Tensor {
        let (c, hw, windows) = (inputShape[1], inputShape[2] * inputShape[3], p.shape[2] * p.shape[3])
        let pg = gp.storage.pointer, pp = p.storage.pointer, pk = index.storage.pointer, ps = scale.storage.pointer
        return Tensor(shape: inputShape) { out in
            let o = out.baseAddress!
            Parallel.forEach(inputShape[0] * c) { chunk in
                for plane in chunk {
                    let (dx, pooled) = (o + plane * hw, plane * windows)
                    for j in pooled..<(pooled + windows) where pp[j] > 0 && pp[j] < upper && pk[j] >= 0 {
                        dx[Int(pk[j])] += pg[j]
                    }
                    let a = ps[plane % c]
                    for i in 0..<hw { dx[i] *= a }
                }
            }
        }
    }
}

/// The gradient rule of every primitive, in one place. `g` is dL/d(out); each rule returns
/// dL/d(input) per input (nil for inputs that need none). Rules run with recording off.
func standardRule(_ primitive: Primitive) -> BackwardRule {
    switch primitive {
    case .add: return { g, n, _ in [reduce(g, n.inputs[0]), reduce(g, n.inputs[1])] }
    case .sub: return { g, n, _ in [reduce(g, n.inputs[0]), reduce(-g, n.inputs[1])] }
    // d(ab) = b da + a db
    case .mul: return { g, n, _ in
        let (a, b) = (n.inputs[0], n.inputs[1])
        return [a.isDifferentiable ? reduce(g * b, a) : nil, b.isDifferentiable ? reduce(g * a, b) : nil]
    }
    // d(a/b) = da / b - a db / b^2
    case .div: return { g, n, _ in
        let (a, b) = (n.inputs[0], n.inputs[1])
        return [a.isDifferentiable ? reduce(g / b, a) : nil,
                b.isDifferentiable ? reduce(-(g * a) / (b * b), b) : nil]
    }
    case .neg: return { g, _, _ in [-g] }
    case .exp: return { g, _, out in [g * out] }                          // d e^x = e^x
    case .log: return { g, n, _ in [g / n.inputs[0]] }                     // d log x = 1/x
    case .sqrt: return { g, _, out in [g / (out * 2)] }                    // d sqrt x = 1/(2 sqrt x)
    case .abs: return { g, n, _ in [g * n.inputs[0].sign()] }
    case .sin: return { g, n, _ in [g * n.inputs[0].cos()] }                 // d sin x = cos x
    case .cos: return { g, n, _ in [-(g * n.inputs[0].sin())] }              // d cos x = -sin x
    case .addScalar: return { g, _, _ in [g] }
    case .mulScalar(let s): return { g, _, _ in [g * s] }
    case .powScalar(let p): return { g, n, _ in                                 // d x^p = p x^(p-1)
        p == 2 && !GradMode.isEnabled ? [Elementwise.binary(g, n.inputs[0]) { 2 * $0 * $1 }] : [g * (n.inputs[0].pow(p - 1) * p)]
    }
    case .relu: return { g, n, _ in [g.shape == n.inputs[0].shape ? Elementwise.reluBackward(g, n.inputs[0]) : Elementwise.binary(g, n.inputs[0]) { $1 > 0 ? $0 : 0 }] }
    case .relu6: return { g, n, _ in                                       // 1 on (0, 6)
        [g.shape == n.inputs[0].shape ? Elementwise.reluBackward(g, n.inputs[0], upper: 6)
                                      : Elementwise.binary(g, n.inputs[0]) { $1 > 0 && $1 < 6 ? $0 : 0 }]
    }
    case .leakyRelu(let slope): return { g, n, _ in
        [Elementwise.binary(g, n.inputs[0]) { $1 > 0 ? $0 : $0 * slope }]
    }
    case .sigmoid: return { g, _, out in [g * out * (1 - out)] }           // s (1 - s)
    case .tanh: return { g, _, out in [g * (1 - out * out)] }              // 1 - tanh^2
    case .sum: return { g, n, _ in [Elementwise.expand(g, to: n.inputs[0].shape)] }
    case .maxReduce(let axis): return { g, n, _ in
        [Reduce.scatterMax(g, index: n.saved[0], shape: n.inputs[0].shape, axis: axis)]
    }
    // softmax: dx = y (g - sum(g y));  log-softmax: dx = g - e^y sum(g)
    case .softmax(let axis): return { g, _, y in
        [y * (g - Elementwise.sum(g * y, axes: [axis]))]
    }
    case .logSoftmax(let axis): return { g, _, y in
        [g - y.exp() * Elementwise.sum(g, axes: [axis])]
    }
    case .matmul(let tA, let tB): return { g, n, _ in
        // C = op(A) op(B): dA and dB as products of g with the other operand, computed only
        // for inputs that take part (a frozen weight matrix costs nothing).
        let (a, b) = (n.inputs[0], n.inputs[1])
        var da: Tensor? = nil, db: Tensor? = nil
        if a.isDifferentiable {
            switch (tA, tB) {
            case (false, false): da = g.matmul(b, transposeB: true)
            case (false, true): da = g.matmul(b)
            case (true, false): da = b.matmul(g, transposeB: true)
            case (true, true): da = b.matmul(g, transposeA: true, transposeB: true)
            }
        }
        if b.isDifferentiable {
            switch (tA, tB) {
            case (false, false): db = a.matmul(g, transposeA: true)
            case (false, true): db = g.matmul(a, transposeA: true)
            case (true, false): db = a.matmul(g)
            case (true, true): db = g.matmul(a, transposeA: true, transposeB: true)
            }
        }
        return [da, db]
    }
    case .conv2d(let geometry, let groups): return { g, n, _ in
        let (x, w) = (n.inputs[0], n.inputs[1])
        let (dx, dw) = Convolution.backward(g, x: x, w: w, geometry, groups: groups, needsInput: x.isDifferentiable,
                                            needsWeight: w.isDifferentiable, kept: .init(saved: n.saved))
        var grads: [Tensor?] = [dx, dw]
        if n.inputs.count == 3 { grads.append(n.inputs[2].isDifferentiable ? Convolution.backwardBias(g) : nil) }
        return grads
    }
    // y = clamp(z, 0, upper), z = conv2d(x, w, b): dz = g where 0 < y < upper, then conv2d's rule.
    case .conv2dClamp(let geometry, let groups, let upper):
        let convolution = standardRule(.conv2d(geometry, groups: groups))      // same inputs and saved tensors
        return { g, n, out in convolution(Elementwise.reluBackward(g, out, upper: upper), n, out) }
    // y = clamp(z * scale + shift, 0, upper), z = conv2d(a, w, b), a = x or clamp(x * inScale +
    // inShift, 0, inputUpper): batchNormClamp's rule, conv2d's, then batchNormClamp's for a.
    case .conv2dBatchNormClamp(let geometry, let groups, let upper, let inputUpper): return { g, n, out in
        let (x, w, scale) = (n.inputs[0], n.inputs[1], n.inputs[2])
        let bias = n.inputs.count > (inputUpper == nil ? 4 : 6) ? n.inputs.last : nil
        let d = Convolution.dims(x.shape, w.shape, geometry, groups: groups)
        var grads: [Tensor?] = Array(repeating: nil, count: n.inputs.count)
        if Convolution.isDepthwise(d) && d.cout == d.cin && !w.isDifferentiable && bias?.isDifferentiable != true {
            // Frozen depthwise: both clamp gradients applied to each plane inside the adjoint kernel.
            guard x.isDifferentiable else { return grads }
            let inputGradient = inputUpper.map { inputUpper in
                Normalization.PlaneMap.affineClampGradient(z: x.storage.pointer, scale: n.inputs[4].storage.pointer,
                                                           shift: n.inputs[5].storage.pointer, upper: inputUpper)
            }
            grads[0] = Depthwise.backwardInput(g, w, inputShape: x.shape, geometry, d,
                                               gradient: .clampGradient(y: out.storage.pointer, scale: scale.storage.pointer, upper: upper),
                                               inputGradient: inputGradient)
            return grads
        }
        check(inputUpper == nil, "conv2dBatchNormClamp: an input map needs a frozen depthwise convolution")
        let dz = Normalization.batchNormClampedBackward(g, y: out, scale: scale, upper: upper)
        (grads[0], grads[1]) = Convolution.backward(dz, x: x, w: w, geometry, groups: groups, needsInput: x.isDifferentiable,
                                                    needsWeight: w.isDifferentiable, kept: .init(saved: n.saved))
        if let bias, bias.isDifferentiable { grads[4] = Convolution.backwardBias(dz) }
        return grads
    }
    // y = conv2d^T(x, w): dx = conv2d(dy, w); dw is conv2d's weight gradient with x and dy swapped.
    case .convTranspose2d(let geometry, let groups): return { g, n, _ in
        let (x, w) = (n.inputs[0], n.inputs[1])
        var grads: [Tensor?] = [
            x.isDifferentiable ? Convolution.forward(g, w, nil, geometry, groups: groups) : nil,
            w.isDifferentiable ? Convolution.backwardWeight(x, g, weightShape: w.shape, geometry, groups: groups) : nil,
        ]
        if n.inputs.count == 3 { grads.append(n.inputs[2].isDifferentiable ? Convolution.backwardBias(g) : nil) }
        return grads
    }
    case .maxPool2d: return { g, n, _ in
        [Pooling.maxPoolBackward(g, index: n.saved[0], inputShape: n.inputs[0].shape)]
    }
    case .avgPool2d(let geometry, _, let countIncludePad): return { g, n, _ in
        [Pooling.avgPoolBackward(g, geometry, inputShape: n.inputs[0].shape, countIncludePad: countIncludePad)]
    }
    case .adaptiveAvgPool2d: return { g, n, _ in
        [Pooling.adaptiveAvgPoolBackward(g, inputShape: n.inputs[0].shape)]
    }
    case .batchNormClamp(let upper): return { g, n, out in
        [Normalization.batchNormClampedBackward(g, y: out, scale: n.inputs[1], upper: upper), nil]
    }
    case .batchNormAddClamp(let upper): return { g, n, out in
        let (dx, dr) = Normalization.batchNormAddClampedBackward(g, y: out, scale: n.inputs[2], upper: upper,
                                                                 needsInput: n.inputs[0].isDifferentiable,
                                                                 needsResidual: n.inputs[1].isDifferentiable)
        return [dx, dr, nil]
    }
    case .batchNormTrainClampMaxPool(_, let upper): return { g, n, out in
        Normalization.batchNormClampMaxPoolBackward(g, pooled: out, x: n.inputs[0], weight: n.inputs[1], mean: n.saved[0],
                                                    invstd: n.saved[1], index: n.saved[3], inputAtMax: n.saved[4], upper: upper,
                                                    needs: n.inputs.map(\.isDifferentiable))
    }
    case .batchNormClampMaxPool(_, let upper): return { g, n, out in
        [Normalization.batchNormClampMaxPoolBackward(g, pooled: out, index: n.saved[0], inputShape: n.inputs[0].shape,
                                                     scale: n.inputs[1], upper: upper), nil]
    }
    case .batchNorm(_, let training): return { g, n, _ in
        Normalization.batchNormBackward(g, x: n.inputs[0], weight: n.inputs[1], mean: n.saved[0],
                                        invstd: n.saved[1], training: training,
                                        needs: n.inputs.map(\.isDifferentiable))
    }
    case .batchNormTrainClamp(_, let upper): return { g, n, _ in
        Normalization.batchNormBackward(g, x: n.inputs[0], weight: n.inputs[1], mean: n.saved[0],
                                        invstd: n.saved[1], training: true,
                                        needs: n.inputs.map(\.isDifferentiable),
                                        clamp: (n.saved[2], n.saved[3], upper))
    }
    case .planeMoments: return { g, n, out in [Normalization.planeMomentsBackward(g, x: n.inputs[0], moments: out)] }
    case .reshape: return { g, n, _ in [Tensor(shape: n.inputs[0].shape, storage: g.storage)] }
    case .expand: return { g, n, _ in [reduce(g, n.inputs[0])] }
    case .permute(let order): return { g, _, _ in
        var inverse = order
        for (i, o) in order.enumerated() { inverse[o] = i }
        return [Layout.permute(g, inverse)]
    }
    case .concat(let axis): return { g, n, _ in
        var start = 0
        return n.inputs.map { x in
            defer { start += x.shape[axis] }
            return x.isDifferentiable ? Layout.slice(g, axis: axis, start: start, end: start + x.shape[axis]) : nil
        }
    }
    case .slice(let axis, let start, _): return { g, n, _ in
        [Layout.unslice(g, shape: n.inputs[0].shape, axis: axis, start: start)]
    }
    case .pad2d(let top, _, let left, _, let mode): return { g, n, _ in
        [Spatial.padBackward(g, inputShape: n.inputs[0].shape, top: top, left: left, mode: mode)]
    }
    case .resize2d(_, _, let mode): return { g, n, _ in
        [Spatial.resizeBackward(g, inputShape: n.inputs[0].shape, mode: mode)]
    }
    case .affineResample(let theta, _, _): return { g, n, _ in
        [Spatial.affineBackward(g, theta: theta, inputShape: n.inputs[0].shape)]
    }
    // x = irfft2(X): dX = c_k2 rfft2(g), see FFT.
    case .irfft2: return { g, _, _ in [FFT.irfft2Backward(g)] }
    case .straightThrough: return { g, _, _ in [g] }
    }
}

/// Sums a broadcast gradient back to the shape of the input it came from.
@inline(__always)
private func reduce(_ g: Tensor, _ input: Tensor) -> Tensor? {
    input.isDifferentiable ? Elementwise.sumToShape(g, input.shape) : nil
}

extension Reduce {
    /// Adjoint of max along `axis`: g goes to the recorded argmax position.
    static func scatterMax(_ g: Tensor, index: Tensor, shape: [Int], axis: Int) -> Tensor {
        let (outer, n, inner) = split(shape, axis)
        let pg = g.storage.pointer, pi = index.storage.pointer
        return Tensor(shape: shape) { out in
            for o in 0..<outer {
                for i in 0..<inner {
                    out[(o * n + Int(pi[o * inner + i])) * inner + i] = pg[o * inner + i]
                }
            }
        }
    }
}

extension Normalization {
    /// With xhat = (x - mean) invstd over M = N*H*W elements per channel:
    /// eval:  dx = g w invstd
    /// train: dx = w invstd / M (M g - sum g - xhat sum(g xhat))
    /// dw = sum(g xhat), db = sum(g).
    /// `clamp`: for a batch norm followed by clamp(., 0, upper)
    /// (``Tensor/batchNormTrainingClamped(weight:bias:runningMean:runningVar:momentum:eps:upper:)``),
    /// g is the clamp's, and the batch norm's is g where 0 < z < upper, else 0, with the batch
    /// norm's output z = fma(x, scale[c], shift[c]) recomputed as the forward pass computed it
    /// (x is read anyway; the clamped output need not be).
    static func batchNormBackward(_ g: Tensor, x: Tensor, weight: Tensor, mean: Tensor, invstd: Tensor,
                                  training: Bool, needs: [Bool],
                                  clamp: (scale: Tensor, shift: Tensor, upper: Float)? = nil) -> [Tensor?] {
        let c = x.shape[1], n = x.shape[0], hw = x.count / (n * c), m = Float(n * hw)
        let px = x.storage.pointer, pg = g.storage.pointer
        let clampScale = clamp?.scale.storage.pointer, clampShift = clamp?.shift.storage.pointer
        let upper = clamp?.upper ?? .infinity
        func channelClamp(_ ch: Int) -> (scale: Float, shift: Float, upper: Float)? {
            guard let clampScale, let clampShift else { return nil }
            return (clampScale[ch], clampShift[ch], upper)
        }
        let pw = weight.storage.pointer, pm = mean.storage.pointer, pi = invstd.storage.pointer
        let dw = Tensor(zeros: [c]), db = Tensor(zeros: [c])
        let pdw = dw.storage.pointer, pdb = db.storage.pointer
        // The sums are needed for the parameter gradients and, in training, for dx.
        let needSums = training || needs[1] || needs[2]
        if needSums {
            Parallel.forEach(c) { chunk in
                for ch in chunk {
                    var sg: Float = 0, sgx: Float = 0
                    for b in 0..<n {
                        let off = (b * c + ch) * hw
                        let (a, ax) = Normalization.gradientSums(pg + off, px + off, mean: pm[ch], hw,
                                                                 clamp: channelClamp(ch))
                        sg += a; sgx += ax
                    }
                    pdb[ch] = sg
                    pdw[ch] = sgx * pi[ch]
                }
            }
        }
        var dx: Tensor? = nil
        if needs[0] {
            dx = Tensor(overwriting: x.shape) { out in
                let o = out.baseAddress!
                Parallel.forEach(c) { chunk in
                    for ch in chunk {
                        let scale = pw[ch] * pi[ch]
                        let meanG = pdb[ch] / m, meanGX = pdw[ch] / m              // sum(g)/M, sum(g xhat)/M
                        for b in 0..<n {
                            let off = (b * c + ch) * hw
                            if let clamp = channelClamp(ch) {
                                Normalization.clampedTrainingGradient(pg + off, x: px + off, into: o + off, count: hw,
                                                                      scale: scale, mean: pm[ch], invstd: pi[ch],
                                                                      meanG: meanG, meanGX: meanGX, clamp: clamp)
                            } else if training {
                                for j in 0..<hw {
                                    let xhat = (px[off + j] - pm[ch]) * pi[ch]
                                    o[off + j] = scale * (pg[off + j] - meanG - xhat * meanGX)
                                }
                            } else {
                                for j in 0..<hw { o[off + j] = pg[off + j] * scale }
                            }
                        }
                    }
                }
            }
        }
        return [dx, needs[1] ? dw : nil, needs[2] ? db : nil]
    }

    /// The gradient of ``Tensor/planeMoments(eps:)``: for a plane of M elements with mean mu
    /// and s = sqrt(var + eps), d mu / dx_i = 1/M and d s / dx_i = (x_i - mu) / (M s) (the
    /// variance's own dependence on mu sums to zero), so dx_i = g_mu / M + g_s (x_i - mu) / (M s).
    static func planeMomentsBackward(_ g: Tensor, x: Tensor, moments: Tensor) -> Tensor {
        let planes = x.shape[0] * x.shape[1], m = x.count / max(planes, 1)
        let px = x.storage.pointer, pg = g.storage.pointer, pm = moments.storage.pointer
        return Tensor(overwriting: x.shape) { out in
            let o = out.baseAddress!
            Parallel.forEach(planes) { chunk in
                for plane in chunk {
                    let (mean, std) = (pm[2 * plane], pm[2 * plane + 1])
                    let a = pg[2 * plane] / Float(m), b = pg[2 * plane + 1] / (Float(m) * std)
                    let off = plane * m
                    for j in 0..<m { o[off + j] = a + b * (px[off + j] - mean) }
                }
            }
        }
    }
}

import Testing
@testable import FoveaTensor

/// The fast kernels against plain, obviously-right loops in Double.
@Suite struct KernelReferenceTests {
    /// y[n,o,i,j] = b[o] + sum_{c in group, ky, kx} w[o, c', ky, kx] x[n, c, i*s - pt + ky*d, j*s - pl + kx*d]
    static func referenceConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride s: Int,
                              pad: (Int, Int, Int, Int), dilation d: Int, groups: Int) -> [Double] {
        let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (cout, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let ho = (h + pad.0 + pad.1 - d * (kh - 1) - 1) / s + 1
        let wo = (wd + pad.2 + pad.3 - d * (kw - 1) - 1) / s + 1
        let xs = x.scalars, ws = w.scalars, bs = b?.scalars
        var out = [Double](repeating: 0, count: n * cout * ho * wo)
        let outPerGroup = cout / groups
        _ = cin
        for b0 in 0..<n { for o in 0..<cout { for i in 0..<ho { for j in 0..<wo {
            var acc = Double(bs?[o] ?? 0)
            let group = o / outPerGroup
            for c in 0..<cg { for ky in 0..<kh { for kx in 0..<kw {
                let iy = i * s - pad.0 + ky * d, ix = j * s - pad.2 + kx * d
                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                let ci = group * cg + c
                acc += Double(ws[((o * cg + c) * kh + ky) * kw + kx]) * Double(xs[((b0 * x.shape[1] + ci) * h + iy) * wd + ix])
            } } }
            out[((b0 * cout + o) * ho + i) * wo + j] = acc
        } } } }
        return out
    }

    @Test(arguments: [
        (3, 8, 3, 1, 1, 1), (16, 20, 3, 1, 1, 1), (4, 6, 5, 2, 1, 2), (6, 6, 5, 2, 1, 6), (6, 12, 3, 1, 2, 6), (5, 7, 1, 1, 1, 1), (3, 4, 7, 3, 1, 1),
    ])
    func convMatchesReference(_ c: (Int, Int, Int, Int, Int, Int)) {
        let (cin, cout, k, s, d, g) = c
        let x = randomTensor([2, cin, 11, 9], seed: 1)
        let w = randomTensor([cout, cin / g, k, k], seed: 2)
        let b = randomTensor([cout], seed: 3)
        let pad = (k / 2, k / 2 + (s - 1), k / 2, k / 2)
        let fast = x.conv2d(weight: w, bias: b, stride: (s, s), padding: pad, dilation: (d, d), groups: g)
        let ref = Self.referenceConv(x, w, b, stride: s, pad: pad, dilation: d, groups: g)
        #expect(fast.count == ref.count)
        #expect(maxRelativeError(fast.scalars, ref.map(Float.init)) < 1e-5)
    }

    /// im2col + GEMM in bands of output rows (the column matrix bounded to a few rows) gives the
    /// one-band results: forward, input and weight gradients, grouped, strided and padded.
    @Test(arguments: [(4, 6, 3, 1, 1), (6, 12, 3, 2, 3), (3, 4, 7, 3, 1), (5, 7, 5, 2, 1)])
    func bandsOfOutputRowsMatchOneBand(_ c: (Int, Int, Int, Int, Int)) {
        let (cin, cout, k, s, groups) = c
        let x = randomTensor([1, cin, 23, 17], seed: 51), w = randomTensor([cout, cin / groups, k, k], seed: 52)
        let pad = (k / 2, k / 2 + (s - 1), k / 2, 0)
        let g = Conv2dGeometry(kernel: (k, k), stride: (s, s), padding: pad)
        func passes() -> (y: Tensor, dx: Tensor, dw: Tensor, bands: Int) {
            ConvolutionPath.with(.inHouse) {
                let d = Convolution.dims(x.shape, w.shape, g, groups: groups)
                let y = Convolution.forward(x, w, nil, g, d, keep: nil)
                let dy = randomTensor(y.shape, seed: 53)
                return (y, Convolution.backwardInputByGEMM(dy, w, inputShape: x.shape, g, groups: groups),
                        Convolution.backwardWeightByGEMM(dy, x, weightShape: w.shape, g, groups: groups),
                        Convolution.outputBands(d).count)
            }
        }
        let whole = passes()
        let banded = Convolution.$bandFloats.withValue((cin / groups) * k * k * 9 * 3) { passes() }
        #expect(whole.bands == 1 && banded.bands > 1)
        #expect(maxRelativeError(banded.y.scalars, whole.y.scalars) < 1e-5)
        #expect(maxRelativeError(banded.dx.scalars, whole.dx.scalars) < 1e-5)
        #expect(maxRelativeError(banded.dw.scalars, whole.dw.scalars) < 1e-4)
        let ref = Self.referenceConv(x, w, nil, stride: s, pad: pad, dilation: 1, groups: groups)
        #expect(maxRelativeError(banded.y.scalars, ref.map(Float.init)) < 1e-5)
    }

    /// The depthwise kernel on planes of every flat block width (64, 32, 16, 8 and scalar
    /// outputs, the last block overlapping) and rows of every copy-out width, strides 1 and 2
    /// with even and odd left padding (TensorFlow SAME at stride 2 pads k=5 by 1 before, 2
    /// after): forward against the reference, both gradients against im2col + GEMM.
    @Test(arguments: [(3, 1, (1, 1, 1, 1)), (5, 1, (2, 2, 2, 2)), (3, 2, (0, 1, 0, 1)), (5, 2, (1, 2, 1, 2)), (3, 2, (1, 1, 1, 1))])
    func depthwiseMatchesReference(_ k: Int, _ s: Int, _ pad: (Int, Int, Int, Int)) {
        for (height, width) in [(1, 3), (3, 3), (3, 6), (9, 3), (9, 6), (9, 11), (9, 21), (9, 40), (30, 40)] {
            let x = randomTensor([2, 3, height, width], seed: 41), w = randomTensor([3, 1, k, k], seed: 42)
            let b = randomTensor([3], seed: 43)
            let g = Conv2dGeometry(kernel: (k, k), stride: (s, s), padding: pad)
            let (ho, wo) = g.outputSize(h: height, w: width)
            guard ho > 0 && wo > 0 else { continue }
            let y = x.conv2d(weight: w, bias: b, stride: (s, s), padding: pad, groups: 3)
            let ref = Self.referenceConv(x, w, b, stride: s, pad: pad, dilation: 1, groups: 3)
            #expect(maxRelativeError(y.scalars, ref.map(Float.init)) < 1e-5, "\(height) x \(width)")
            let dy = randomTensor(y.shape, seed: 44)
            let dx = Convolution.backwardInput(dy, w, inputShape: x.shape, g, groups: 3)
            let dxGEMM = Convolution.backwardInputByGEMM(dy, w, inputShape: x.shape, g, groups: 3)
            #expect(maxRelativeError(dx.scalars, dxGEMM.scalars) < 1e-5, "\(height) x \(width)")
            let dw = Convolution.backwardWeight(dy, x, weightShape: w.shape, g, groups: 3)
            let dwGEMM = Convolution.backwardWeightByGEMM(dy, x, weightShape: w.shape, g, groups: 3)
            #expect(maxRelativeError(dw.scalars, dwGEMM.scalars) < 1e-4, "\(height) x \(width)")
        }
    }

    /// Winograd F(2x2, 3x3) (3x3, stride 1, large maps) against the reference, with odd
    /// sizes and asymmetric padding, forward and the adjoint used for the input gradient.
    /// A batch of small maps (fashion-cnn's second layer, ResNet's 14x14 stage) too.
    @Test(arguments: [((1, 1, 1, 1), [1, 32, 101, 127]), ((0, 2, 1, 0), [1, 32, 101, 127]), ((2, 2, 0, 0), [1, 32, 101, 127]),
                      ((1, 1, 1, 1), [5, 16, 14, 14]), ((1, 1, 1, 1), [3, 24, 7, 9])])
    func winogradMatchesReference(_ p: (Int, Int, Int, Int), _ shape: [Int]) {
        ConvolutionPath.with(.inHouse) { inHouseWinogradMatchesReference(p, shape) }   // not oneDNN's, for large maps
    }

    func inHouseWinogradMatchesReference(_ p: (Int, Int, Int, Int), _ shape: [Int]) {
        // Wide enough for the 4-tile path.
        let x = randomTensor(shape, seed: 4)
        let w = randomTensor([20, shape[1], 3, 3], seed: 5)
        let b = randomTensor([20], seed: 6)
        let d = Convolution.dims(x.shape, w.shape, Conv2dGeometry(kernel: (3, 3), padding: p), groups: 1)
        #expect(Winograd.applies(d, Conv2dGeometry(kernel: (3, 3), padding: p)))
        let fast = x.conv2d(weight: w, bias: b, padding: p)
        let ref = Self.referenceConv(x, w, b, stride: 1, pad: p, dilation: 1, groups: 1)
        #expect(maxRelativeError(fast.scalars, ref.map(Float.init)) < 1e-5)
        // Input gradient against the im2col path (a 15-channel twin of the same problem is not
        // eligible, so compare with the generic kernel called directly).
        let dy = randomTensor(fast.shape, seed: 7)
        let g = Conv2dGeometry(kernel: (3, 3), padding: p)
        let viaWinograd = Convolution.backwardInput(dy, w, inputShape: x.shape, g, groups: 1)
        let viaGEMM = Convolution.backwardInputByGEMM(dy, w, inputShape: x.shape, g, groups: 1)
        #expect(maxRelativeError(viaWinograd.scalars, viaGEMM.scalars) < 1e-5)
        // In bands of output rows (a large image's way), forward and adjoint: the same numbers.
        if shape[0] == 1 {
            let bands = Winograd.convInBands(x, w, bias: b, pad: p, bandBytes: 16 * 4 * 32 * 64 * 5)
            #expect(maxRelativeError(bands.scalars, ref.map(Float.init)) < 1e-5)
            let adjointBands = Winograd.convInBands(dy, w, bias: nil, pad: (2 - p.0, 2 - p.1, 2 - p.2, 2 - p.3), adjoint: true,
                                                    bandBytes: 16 * 4 * 32 * 64 * 3)
            #expect(maxRelativeError(adjointBands.scalars, viaGEMM.scalars) < 1e-5)
        }
        // The same from the filter tiles a recorded forward pass keeps (transposed, flipped U).
        let kept = Convolution.Kept(x, w, g, groups: 1, forWeight: false, forInput: true)
        _ = Convolution.forward(x, w, b, g, groups: 1, keep: kept)
        #expect(kept.filterTiles != nil && kept.columns == nil)
        let viaKeptTiles = Convolution.backwardInput(dy, w, inputShape: x.shape, g, groups: 1, filterTiles: kept.filterTiles)
        #expect(maxRelativeError(viaKeptTiles.scalars, viaGEMM.scalars) < 1e-5)
        // Weight gradient in the tile domain against im2col + GEMM.
        let dwWinograd = Convolution.backwardWeight(dy, x, weightShape: w.shape, g, groups: 1)
        let dwGEMM = Convolution.backwardWeightByGEMM(dy, x, weightShape: w.shape, g, groups: 1)
        // Two float32 sums over 12,827 products in different orders: on AVX-512 hosts (OpenBLAS's
        // SkylakeX kernels) the largest relative difference measured 1.04e-4.
        #expect(maxRelativeError(dwWinograd.scalars, dwGEMM.scalars) < 2e-4)
    }

    /// Inside FrozenWeights.run a 7x7 map (16 tiles) goes through Winograd with the cached filter
    /// transform, forward and input gradient; an in-place weight change under suspend is seen,
    /// and the enclosing cache is still right once the weights are restored.
    @Test func frozenWeightsReuseFilterTransforms() {
        let x = randomTensor([1, 24, 7, 7], seed: 31), w = randomTensor([32, 24, 3, 3], seed: 32)
        let pad = (1, 1, 1, 1), g = Conv2dGeometry(kernel: (3, 3), padding: pad)
        let d = Convolution.dims(x.shape, w.shape, g, groups: 1)
        let reference = Self.referenceConv(x, w, nil, stride: 1, pad: pad, dilation: 1, groups: 1).map(Float.init)
        let dy = randomTensor([1, 32, 7, 7], seed: 33)
        let dxReference = Convolution.backwardInputByGEMM(dy, w, inputShape: x.shape, g, groups: 1).scalars
        #expect(!Winograd.applies(d, g))
        FrozenWeights.run {
            #expect(Winograd.applies(d, g))
            for _ in 0..<2 {                                       // a miss, then a hit
                let input = x.detached()
                input.requiresGrad = true
                let y = input.conv2d(weight: w, padding: pad)
                #expect(maxRelativeError(y.scalars, reference) < 1e-5)
                (y * dy).sum().backward()
                #expect(maxRelativeError(input.grad!.scalars, dxReference) < 1e-5)
            }
            let saved = w.copy()
            FrozenWeights.suspend {
                #expect(!FrozenWeights.isActive)
                for i in 0..<w.count { w.buffer[i] *= 2 }
                let doubled = reference.map { 2 * $0 }
                #expect(maxRelativeError(x.conv2d(weight: w, padding: pad).scalars, doubled) < 1e-5)
                FrozenWeights.run { #expect(maxRelativeError(x.conv2d(weight: w, padding: pad).scalars, doubled) < 1e-5) }
            }
            w.buffer.baseAddress!.update(from: saved.storage.pointer, count: w.count)
            #expect(maxRelativeError(x.conv2d(weight: w, padding: pad).scalars, reference) < 1e-5)
        }
    }

    /// Products with a single row or column of C go through GEMV: every transpose combination,
    /// padded leading dimensions, beta, small and split-over-both-cores sizes, against a loop.
    @Test(arguments: [(1, 700, 900), (1, 40, 30), (600, 1, 800), (50, 1, 20)])
    func singleRowOrColumnProducts(_ size: (m: Int, n: Int, k: Int)) {
        let (m, n, k) = size
        for transA in [false, true] {
            for transB in [false, true] {
                // op(A) is m x k, op(B) is k x n; stored transposed when trans, with 3 spare columns.
                let (aRows, aCols) = transA ? (k, m) : (m, k), (bRows, bCols) = transB ? (n, k) : (k, n)
                let lda = aCols + 3, ldb = bCols + 3, ldc = n + 3
                let a = randomTensor([aRows * lda], seed: 21).scalars, b = randomTensor([bRows * ldb], seed: 22).scalars
                let c0 = randomTensor([m * ldc], seed: 23).scalars
                for beta: Float in [0, 0.5] {
                    var c = c0
                    a.withUnsafeBufferPointer { pa in
                        b.withUnsafeBufferPointer { pb in
                            c.withUnsafeMutableBufferPointer { pc in
                                sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 2, a: pa.baseAddress!, lda: lda,
                                      b: pb.baseAddress!, ldb: ldb, beta: beta, c: pc.baseAddress!, ldc: ldc)
                            }
                        }
                    }
                    var worst = 0.0
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum = 0.0
                            for l in 0..<k {
                                let av = transA ? a[l * lda + i] : a[i * lda + l], bv = transB ? b[j * ldb + l] : b[l * ldb + j]
                                sum += Double(av) * Double(bv)
                            }
                            let expected = 2 * sum + Double(beta) * Double(c0[i * ldc + j])
                            worst = max(worst, abs(Double(c[i * ldc + j]) - expected) / max(1, abs(expected)))
                        }
                    }
                    #expect(worst < 1e-4, "m \(m) n \(n) k \(k) transA \(transA) transB \(transB) beta \(beta)")
                }
            }
        }
    }

    /// Eval batch norm + ReLU / ReLU6 in one pass gives exactly the two operations' values (NaN
    /// included) and input gradient, on plane sizes with and without an 8-lane tail.
    @Test(arguments: [Float.infinity, 6])
    func batchNormClampedEqualsTheTwoOperations(upper: Float) {
        var values = randomTensor([3, 5, 7, 9], seed: 31, range: -8...8).scalars
        values[10] = .nan
        values[200] = .infinity
        let (w, b) = (randomTensor([5], seed: 32), randomTensor([5], seed: 33))
        let (mean, variance) = (randomTensor([5], seed: 34), randomTensor([5], seed: 35, range: 0.1...2))
        let x1 = Tensor(shape: [3, 5, 7, 9], values: values), x2 = Tensor(shape: [3, 5, 7, 9], values: values)
        x1.requiresGrad = true
        x2.requiresGrad = true
        let normalized = x1.batchNorm(weight: w, bias: b, runningMean: mean, runningVar: variance, training: false, eps: 1e-3)
        let reference = upper.isFinite ? normalized.relu6() : normalized.relu()
        let fused = x2.batchNormClamped(weight: w, bias: b, runningMean: mean, runningVar: variance, eps: 1e-3, upper: upper)
        #expect(zip(fused.scalars, reference.scalars).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) })
        let g = randomTensor([3, 5, 7, 9], seed: 36)
        (reference * g).sum().backward()
        (fused * g).sum().backward()
        #expect(x2.grad!.scalars == x1.grad!.scalars)
    }

    /// A convolution with its ReLU or ReLU6 as one primitive (clamped in place) gives exactly
    /// the two operations' values and the input, weight and bias gradients, dense and grouped.
    @Test(arguments: [(Float.infinity, 1), (6, 1), (.infinity, 3)])
    func convolutionClampedEqualsTheTwoOperations(upper: Float, groups: Int) {
        let x = randomTensor([2, 6, 13, 11], seed: 81, range: -3...3)
        let (w, b) = (randomTensor([9, 6 / groups, 3, 3], seed: 82), randomTensor([9], seed: 83, range: -2...2))
        let dy = randomTensor([2, 9, 13, 11], seed: 84)
        func run(fused: Bool) -> (y: Tensor, grads: [[Float]], primitive: String?) {
            let (xi, wi, bi) = (x.detached(), w.detached(), b.detached())
            for t in [xi, wi, bi] { t.requiresGrad = true }
            let y = fused
                ? xi.conv2dClamped(weight: wi, bias: bi, padding: (1, 1, 1, 1), groups: groups, upper: upper)
                : { (z: Tensor) in upper.isFinite ? z.relu6() : z.relu() }(
                    xi.conv2d(weight: wi, bias: bi, padding: (1, 1, 1, 1), groups: groups))
            (y * dy).sum().backward()
            return (y, [xi.grad!.scalars, wi.grad!.scalars, bi.grad!.scalars], y.node?.primitive.name)
        }
        let (fused, reference) = (run(fused: true), run(fused: false))
        #expect(fused.primitive == "conv2dClamp" && reference.primitive == (upper.isFinite ? "relu6" : "relu"))
        #expect(fused.y.scalars == reference.y.scalars)
        #expect(fused.y.scalars.contains(0) && (!upper.isFinite || fused.y.scalars.contains(6)))
        for (a, r) in zip(fused.grads, reference.grads) { #expect(a == r) }
    }

    /// A frozen depthwise convolution with batch norm + ReLU6 on both sides as one kernel (the
    /// inner pair applied to each input plane as it is read, both clamp gradients inside the
    /// adjoint) gives exactly the values and input gradient of the four operations run one by
    /// one, at strides 1 and 2 with 3x3 and 5x5 filters and planes with and without an 8-lane tail.
    @Test(arguments: [(3, 1), (3, 2), (5, 1), (5, 2)])
    func depthwiseBetweenBatchNormClampsEqualsTheSeparateOperations(kernel k: Int, stride s: Int) {
        let c = 6
        func batchNorm(_ seed: UInt64) -> (weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, eps: Float) {
            (randomTensor([c], seed: seed, range: -2...2), randomTensor([c], seed: seed + 1, range: -1...4),
             randomTensor([c], seed: seed + 2), randomTensor([c], seed: seed + 3, range: 0.2...2), 1e-3)
        }
        let (inner, outer) = (batchNorm(50), batchNorm(60))
        let w = randomTensor([c, 1, k, k], seed: 70, range: -1...1)
        let x = randomTensor([2, c, 17, 21], seed: 71, range: -4...4)
        let dy = randomTensor([2, c, (17 - 1) / s + 1, (21 - 1) / s + 1], seed: 72)
        let pad = (k / 2, k / 2, k / 2, k / 2)
        func run(fused: Bool) -> (y: Tensor, dx: Tensor, primitive: String?) {
            let input = x.detached()
            input.requiresGrad = true
            let y: Tensor
            if fused {
                y = input.conv2dBatchNormClamped(weight: w, stride: (s, s), padding: pad, groups: c, batchNorm: outer, upper: 6,
                                                 input: (inner, 6))
            } else {
                let a = input.batchNorm(weight: inner.weight, bias: inner.bias, runningMean: inner.runningMean,
                                        runningVar: inner.runningVar, training: false, eps: inner.eps).relu6()
                y = a.conv2d(weight: w, stride: (s, s), padding: pad, groups: c)
                    .batchNorm(weight: outer.weight, bias: outer.bias, runningMean: outer.runningMean,
                               runningVar: outer.runningVar, training: false, eps: outer.eps).relu6()
            }
            (y * dy).sum().backward()
            return (y, input.grad!, y.node?.primitive.name)
        }
        let (fused, separate) = (run(fused: true), run(fused: false))
        #expect(fused.primitive == "conv2dBatchNormClamp" && separate.primitive == "relu6")
        #expect(fused.y.scalars == separate.y.scalars)
        #expect(fused.dx.scalars == separate.dx.scalars)
        // Both clamps cut somewhere: outputs at 0, at 6 and between; input gradients zero and not.
        #expect(fused.y.scalars.contains(0) && fused.y.scalars.contains(6) && fused.y.scalars.contains { $0 > 0 && $0 < 6 })
        #expect(fused.dx.scalars.filter { $0 == 0 }.count > 20 && fused.dx.scalars.filter { $0 != 0 }.count > 200)
    }

    /// Parallel.concurrently runs every part, each with its fork-joins kept on its own thread,
    /// and with the caller's autodiff settings; the thread's own mode comes back afterwards.
    @Test func concurrentlyRunsPartsSeriallyWithTheCallersSettings() throws {
        let seen = try withNoGrad { try Parallel.concurrently(2) { _ in (serial: Parallel.isSerial, recording: GradMode.isEnabled) } }
        #expect(seen.count == 2 && seen.allSatisfy { $0.serial && !$0.recording })
        #expect(!Parallel.isSerial)
        let x = randomTensor([64, 300], seed: 82), w = randomTensor([300, 200], seed: 83)
        let unsplit = try Parallel.concurrently(1) { _ in x.matmul(w) }[0]
        #expect(maxRelativeError(unsplit.scalars, x.matmul(w).scalars) < 1e-4)     // an unsplit GEMM rounds its edge tiles its own way
    }

    /// The pool runs every part exactly once, for more parts than threads and from several
    /// callers at once (one gets the pool, the others run serially); nested calls run serially;
    /// forEach covers its range once in grain-aligned chunks.
    @Test func poolRunsEveryPartOnce() throws {
        #expect(Parallel.threads >= 1)
        for parts in [2, 3, 7, 64, 1000] {
            let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: parts)
            defer { counts.deallocate() }
            counts.initialize(repeating: 0)
            Parallel.run(parts) { part in
                counts[part] += 1
                var nested = [Int](repeating: 0, count: 3)
                nested.withUnsafeMutableBufferPointer { n in Parallel.run(3) { n[$0] += 1 } }
                if nested != [1, 1, 1] { counts[part] += 100 }
            }
            #expect(counts.allSatisfy { $0 == 1 }, "\(parts) parts")
        }
        let totals = try Parallel.concurrently(4) { caller -> Int in
            var sum = 0
            for _ in 0..<50 {
                let cells = UnsafeMutableBufferPointer<Int>.allocate(capacity: 9)
                cells.initialize(repeating: 0)
                Parallel.run(9) { cells[$0] = $0 + 1 }
                sum += cells.reduce(0, +)
                cells.deallocate()
            }
            return sum
        }
        #expect(totals == [Int](repeating: 50 * 45, count: 4))
        let covered = UnsafeMutableBufferPointer<Int>.allocate(capacity: 1003)
        defer { covered.deallocate() }
        covered.initialize(repeating: 0)
        var aligned = true
        Parallel.forEach(1003, grain: 8) { range in
            if range.lowerBound % 8 != 0 { aligned = false }
            for i in range { covered[i] += 1 }
        }
        #expect(covered.allSatisfy { $0 == 1 } && aligned)
        Parallel.split(limit: 1) { part, parts in #expect(part == 0 && parts == 1) }
    }

    /// GEMMLog sees each product made while recording, with its shape, and none made before.
    /// (Other tests may run GEMMs at the same time: only these odd shapes are looked at.)
    @Test func gemmLogRecordsShapes() {
        let a = randomTensor([71, 97], seed: 80), b = randomTensor([97, 113], seed: 81)
        func ours(_ log: [GEMMLog.Product]) -> [[Int]] {
            log.filter { Set([$0.m, $0.n, $0.k]) == [71, 97, 113] }.map { [$0.m, $0.n, $0.k, $0.transA ? 1 : 0] }
        }
        _ = a.matmul(b)
        let log = GEMMLog.recording { _ = a.matmul(b); _ = b.matmul(a, transposeA: true, transposeB: true) }
        #expect(ours(log) == [[71, 113, 97, 0], [113, 71, 97, 1]])
        #expect(log.allSatisfy { $0.microseconds > 0 && $0.gigaflops > 0 })
        _ = a.matmul(b)
        #expect(ours(GEMMLog.recording {}).isEmpty)
    }

    /// A batch of small maps through a 1x1 convolution takes one GEMM over the batch; it must
    /// equal the per-image reference, forward and for the input gradient.
    @Test func batchedPointwiseMatchesReference() {
        let x = randomTensor([3, 5, 4, 6], seed: 8), w = randomTensor([7, 5, 1, 1], seed: 9), b = randomTensor([7], seed: 10)
        let g = Conv2dGeometry(kernel: (1, 1))
        #expect(Convolution.batchesPointwise(Convolution.dims(x.shape, w.shape, g, groups: 1), g))
        let fast = x.conv2d(weight: w, bias: b)
        let ref = Self.referenceConv(x, w, b, stride: 1, pad: (0, 0, 0, 0), dilation: 1, groups: 1)
        #expect(maxRelativeError(fast.scalars, ref.map(Float.init)) < 1e-5)
        // dx[n, c] = sum_o w[o, c] dy[n, o]: compare with the same product done image by image.
        let dy = randomTensor(fast.shape, seed: 11)
        let dx = Convolution.backwardInputByGEMM(dy, w, inputShape: x.shape, g, groups: 1)
        let one = (0..<3).map { n in
            Convolution.backwardInputByGEMM(dy.slice(axis: 0, n..<(n + 1)), w, inputShape: [1, 5, 4, 6], g, groups: 1).scalars
        }.flatMap { $0 }
        #expect(maxRelativeError(dx.scalars, one) < 1e-5)
    }

    /// Large products are split across the cores by columns; every column must be computed,
    /// including when ceil(n / 2) is not a multiple of 16 (n = 12321 is SqueezeNet's 111 x 111).
    @Test(arguments: [12321, 12320, 3025, 193])
    func splitProductsCoverEveryColumn(_ n: Int) {
        let k = n > 1000 ? 27 : 128
        let a = randomTensor([64, k], seed: 12), b = randomTensor([k, n], seed: 13)
        // Leave a NaN-filled buffer of the output's size in the pool, as a busy process would.
        do { let junk = Tensor(repeating: .nan, shape: [64, n]); _ = junk.count }
        let x = b.reshaped([1, k, 1, n]), w = a.reshaped([64, k, 1, 1])
        let viaConv = x.conv2d(weight: w).scalars                // pointwise: output from the pool
        let viaMatmul = a.matmul(b).scalars
        let (pa, pb) = (a.scalars, b.scalars)
        for col in [0, n / 2 - 1, n / 2, n - 17, n - 1] {
            for row in [0, 63] {
                let ref = (0..<k).reduce(0.0) { $0 + Double(pa[row * k + $1]) * Double(pb[$1 * n + col]) }
                #expect(abs(Double(viaConv[row * n + col]) - ref) < 1e-4, "conv column \(col) of \(n)")
                #expect(abs(Double(viaMatmul[row * n + col]) - ref) < 1e-4, "matmul column \(col) of \(n)")
            }
        }
    }

    /// Products with more rows than columns are split by rows (each core then packs half of A
    /// and all of the smaller B): every row must be computed, odd counts included.
    @Test(arguments: [(300, 100), (129, 64), (1025, 196)])
    func splitProductsCoverEveryRow(_ size: (m: Int, n: Int)) {
        let (m, n, k) = (size.m, size.n, 96)
        let a = randomTensor([m, k], seed: 14), b = randomTensor([k, n], seed: 15)
        let c = a.matmul(b).scalars
        let (pa, pb) = (a.scalars, b.scalars)
        for row in [0, m / 2 - 1, m / 2, (m + 1) / 2, m - 1] {
            for col in [0, n / 2, n - 1] {
                let ref = (0..<k).reduce(0.0) { $0 + Double(pa[row * k + $1]) * Double(pb[$1 * n + col]) }
                #expect(abs(Double(c[row * n + col]) - ref) < 1e-4, "row \(row) of \(m), column \(col)")
            }
        }
    }

    /// The vectorised 2x2/2 max pool (blocks of 8 and 4 outputs, overlapping tails) against a
    /// plain loop, for every width from 2 to 41, with ties (first wins), NaN (wins) and -inf.
    @Test func maxPool2x2MatchesReference() {
        for w in 2...41 {
            let h = 6
            var values = (0..<(2 * h * w)).map { Float(($0 * 7919) % 13) - 6 }     // many ties
            values[3] = .nan
            values[w + 5] = -.infinity
            let x = Tensor(shape: [1, 2, h, w], values: values)
            x.requiresGrad = true
            let y = x.maxPool2d(kernel: (2, 2))
            let (oh, ow) = (h / 2, w / 2)
            var expected: [Float] = [], argmax: [Int] = []
            for plane in 0..<2 {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var best = -Float.infinity, index = -1
                        for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                            let i = plane * h * w + (2 * oy + dy) * w + 2 * ox + dx
                            if index < 0 || values[i] > best || (values[i].isNaN && !best.isNaN) { best = values[i]; index = i }
                        }
                        expected.append(best)
                        argmax.append(index)
                    }
                }
            }
            let got = y.scalars
            #expect(got.count == expected.count)
            #expect(zip(got, expected).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "width \(w)")
            // The gradient lands on the recorded winners.
            y.sum().backward()
            let grad = x.grad!.scalars
            var counts = [Float](repeating: 0, count: values.count)
            for i in argmax { counts[i] += 1 }
            #expect(grad == counts, "width \(w) argmax")
        }
    }

    /// The 8-wide interior blocks of the general max pool (stride 2 through even lanes of
    /// 16-wide loads, stride 1 through 8-wide loads) against a plain loop over padded windows,
    /// for widths around the block and row-end limits, with ties, NaN and -inf.
    @Test(arguments: [(3, 2, 1), (3, 1, 1), (2, 1, 0), (5, 2, 2), (3, 2, 0)])
    func maxPoolBlocksMatchReference(kernel k: Int, stride s: Int, padding p: Int) {
        for w in [9, 16, 17, 23, 24, 31, 40, 57, 112] {
            let h = 7
            var values = (0..<(2 * h * w)).map { Float(($0 * 7919) % 11) - 5 }
            values[2 * w + 9 % w] = .nan
            values[h * w + 4] = -.infinity
            let x = Tensor(shape: [1, 2, h, w], values: values)
            x.requiresGrad = true
            let y = x.maxPool2d(kernel: (k, k), stride: (s, s), padding: (p, p, p, p))
            let (oh, ow) = (y.shape[2], y.shape[3])
            var expected: [Float] = [], argmax: [Int] = []
            for plane in 0..<2 {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var best = -Float.infinity, index = -1
                        for dy in 0..<k {
                            for dx in 0..<k {
                                let (iy, ix) = (oy * s - p + dy, ox * s - p + dx)
                                guard iy >= 0 && iy < h && ix >= 0 && ix < w else { continue }
                                let i = plane * h * w + iy * w + ix
                                if index < 0 || values[i] > best || (values[i].isNaN && !best.isNaN) { best = values[i]; index = i }
                            }
                        }
                        expected.append(best)
                        argmax.append(index)
                    }
                }
            }
            let got = y.scalars
            #expect(zip(got, expected).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "k \(k) s \(s) p \(p) width \(w)")
            y.sum().backward()
            var counts = [Float](repeating: 0, count: values.count)
            for i in argmax { counts[i] += 1 }
            #expect(x.grad!.scalars == counts, "k \(k) s \(s) p \(p) width \(w) argmax")
        }
    }

    @Test func poolingValues() {
        let x = Tensor(shape: [1, 1, 3, 4], values: (0..<12).map(Float.init))
        #expect(x.maxPool2d(kernel: (2, 2)).scalars == [5, 7])
        #expect(x.maxPool2d(kernel: (2, 2), ceilMode: true).scalars == [5, 7, 9, 11])
        #expect(x.avgPool2d(kernel: (2, 2)).scalars == [2.5, 4.5])
        // Adaptive bins for 3 -> 2 rows: [0, 2) and [1, 3).
        #expect(x.adaptiveAvgPool2d(height: 2, width: 1).scalars == [3.5, 7.5])
        // count_include_pad: corner window sees 1 real value of 4.
        let padded = x.avgPool2d(kernel: (2, 2), stride: (2, 2), padding: (1, 1, 1, 1))
        #expect(padded.scalars[0] == 0 / 4)
        #expect(padded.scalars[1] == Float(1 + 2) / 4)
    }

    @Test func softmaxAndLogSoftmax() {
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 1000, 1000, 1000])
        let p = x.softmax().scalars
        let e: [Double] = [1, 2, 3].map { Foundation.exp(Double($0) - 3) }
        let s = e.reduce(0, +)
        for i in 0..<3 { #expect(abs(Double(p[i]) - e[i] / s) < 1e-6) }
        for i in 3..<6 { #expect(abs(p[i] - 1.0 / 3) < 1e-6) }
        let lp = x.logSoftmax().scalars
        #expect(abs(Double(lp[0]) - Foundation.log(e[0] / s)) < 1e-5)
    }

    @Test func padAndResizeValues() {
        let x = Tensor(shape: [1, 1, 1, 4], values: [1, 2, 3, 4])
        #expect(x.padded(top: 0, bottom: 0, left: 2, right: 2, mode: .reflect).scalars == [3, 2, 1, 2, 3, 4, 3, 2])
        #expect(x.padded(top: 0, bottom: 0, left: 1, right: 0).scalars == [0, 1, 2, 3, 4])
        // Bilinear 4 -> 2 (align_corners=False): sources 0.5 and 2.5.
        #expect(x.resized(height: 1, width: 2).scalars == [1.5, 3.5])
        // Nearest 4 -> 8 repeats each value twice.
        #expect(x.resized(height: 1, width: 8, mode: .nearest).scalars == [1, 1, 2, 2, 3, 3, 4, 4])
    }

    @Test func batchNormTrainingUpdatesRunningStatistics() {
        let x = Tensor(shape: [2, 1, 1, 2], values: [1, 2, 3, 6])      // mean 3, biased var 3.5
        let rm = Tensor(zeros: [1]), rv = Tensor(repeating: 1, shape: [1])
        let y = x.batchNorm(weight: Tensor(repeating: 1, shape: [1]), bias: Tensor(zeros: [1]),
                            runningMean: rm, runningVar: rv, training: true, momentum: 0.1, eps: 0)
        #expect(abs(y.scalars[0] - (1 - 3) / Float(3.5).squareRoot()) < 1e-6)
        #expect(abs(rm.item - 0.3) < 1e-6)
        #expect(abs(rv.item - (0.9 + 0.1 * 3.5 * 4 / 3)) < 1e-6)    // unbiased var 14/3
    }
}

import Foundation

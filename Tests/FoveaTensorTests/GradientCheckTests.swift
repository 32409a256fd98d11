import Testing
@testable import FoveaTensor

/// Finite-difference checks of every primitive's backward rule on small shapes.
@Suite struct GradientCheckTests {
    @Test func broadcastingArithmetic() {
        let a = randomTensor([2, 3, 4], seed: 1), b = randomTensor([3, 1], seed: 2)
        checkGradients([a, b]) { $0[0] + $0[1] }
        checkGradients([a, b]) { $0[0] - $0[1] }
        checkGradients([a, b]) { $0[0] * $0[1] }
        let positive = randomTensor([1, 4], seed: 3, range: 0.5...2)
        checkGradients([a, positive]) { $0[0] / $0[1] }
    }

    @Test func unaryOps() {
        let x = randomTensor([3, 5], seed: 4)
        let positive = randomTensor([3, 5], seed: 5, range: 0.3...2)
        checkGradients([x]) { -$0[0] }
        checkGradients([x]) { $0[0].exp() }
        checkGradients([positive]) { $0[0].log() }
        checkGradients([positive]) { $0[0].sqrt() }
        checkGradients([positive]) { $0[0].pow(3) }
        checkGradients([x]) { $0[0].adding(2).scaled(by: -3) }
        checkGradients([x]) { $0[0].sigmoid() }
        checkGradients([x]) { $0[0].tanh() }
    }

    @Test func piecewiseActivationsAwayFromKinks() {
        // Values at least 0.1 away from the kinks at 0 and 6, so +-h never crosses one.
        let x = Tensor(shape: [8], values: [-2, -0.5, -0.1, 0.2, 0.9, 5.5, 6.4, 7])
        checkGradients([x]) { $0[0].relu() }
        checkGradients([x]) { $0[0].relu6() }
        checkGradients([x]) { $0[0].leakyRelu(0.2) }
        checkGradients([x]) { $0[0].abs() }
    }

    @Test func reductions() {
        let x = randomTensor([2, 3, 4], seed: 6)
        checkGradients([x]) { $0[0].sum(axes: [1]) }
        checkGradients([x]) { $0[0].sum(axes: [0, 2], keepDims: true) }
        checkGradients([x]) { $0[0].mean() }
        // Well-separated values so that +-h never changes which element is the maximum.
        let spread = Tensor(shape: [2, 3, 4], values: (0..<24).map { Float(($0 * 7) % 24) / 4 })
        checkGradients([spread]) { $0[0].max(axis: 2) }
        checkGradients([spread]) { $0[0].max(axis: 0, keepDims: false) }
        checkGradients([x]) { $0[0].softmax(axis: 1) }
        checkGradients([x]) { $0[0].logSoftmax(axis: -1) }
    }

    @Test func matmulAllTranspositions() {
        let a = randomTensor([3, 4], seed: 7), b = randomTensor([4, 5], seed: 8)
        let at = randomTensor([4, 3], seed: 9), bt = randomTensor([5, 4], seed: 10)
        checkGradients([a, b]) { $0[0].matmul($0[1]) }
        checkGradients([a, bt]) { $0[0].matmul($0[1], transposeB: true) }
        checkGradients([at, b]) { $0[0].matmul($0[1], transposeA: true) }
        checkGradients([at, bt]) { $0[0].matmul($0[1], transposeA: true, transposeB: true) }
        let w = randomTensor([6, 4], seed: 11), bias = randomTensor([6], seed: 12)
        checkGradients([a, w, bias]) { $0[0].linear(weight: $0[1], bias: $0[2]) }
    }

    @Test(arguments: [
        // (cin, cout, k, stride, padding t/b/l/r, dilation, groups)
        (2, 3, 3, 1, [1, 1, 1, 1], 1, 1),
        (2, 4, 3, 2, [0, 1, 0, 1], 1, 2),     // asymmetric "SAME" style, grouped
        (3, 3, 3, 2, [1, 1, 1, 1], 1, 3),     // depthwise, strided
        (2, 4, 3, 1, [2, 2, 2, 2], 2, 2),     // dilated, depthwise with multiplier 2
        (3, 2, 1, 1, [0, 0, 0, 0], 1, 1),     // pointwise (no im2col)
        (3, 4, 3, 1, [0, 2, 1, 0], 1, 1),     // 3x3 stride 1, asymmetric padding
        (3, 3, 3, 1, [0, 2, 1, 1], 1, 3),     // depthwise stride 1: input gradient by the flipped forward kernel
        (3, 3, 3, 1, [2, 4, 1, 3], 2, 3),     // the same, dilated
        (3, 3, 3, 1, [3, 1, 0, 0], 1, 3),     // padding beyond the kernel extent: the scatter path
    ])
    func conv2d(_ c: (Int, Int, Int, Int, [Int], Int, Int)) {
        let (cin, cout, k, s, p, d, g) = c
        let x = randomTensor([2, cin, 6, 7], seed: 13)
        let w = randomTensor([cout, cin / g, k, k], seed: 14)
        let b = randomTensor([cout], seed: 15)
        checkGradients([x, w, b]) {
            $0[0].conv2d(weight: $0[1], bias: $0[2], stride: (s, s), padding: (p[0], p[1], p[2], p[3]),
                         dilation: (d, d), groups: g)
        }
    }

    @Test func pooling() {
        // Distinct values so that max pooling has no ties within h.
        let x = Tensor(shape: [1, 2, 5, 6], values: (0..<60).map { Float(($0 * 37) % 60) / 10 })
        checkGradients([x]) { $0[0].maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1, 1, 1)) }
        checkGradients([x]) { $0[0].maxPool2d(kernel: (2, 2), ceilMode: true) }
        checkGradients([x]) { $0[0].avgPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1, 1, 1)) }
        checkGradients([x]) { $0[0].avgPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1, 1, 1), countIncludePad: false) }
        checkGradients([x]) { $0[0].adaptiveAvgPool2d(height: 3, width: 4) }
        checkGradients([x]) { $0[0].adaptiveAvgPool2d(height: 1, width: 1) }
    }

    @Test func normalisation() {
        let x = randomTensor([3, 2, 3, 3], seed: 16)
        let w = randomTensor([2], seed: 17, range: 0.5...1.5), b = randomTensor([2], seed: 18)
        for training in [false, true] {
            let rm = randomTensor([2], seed: 19), rv = randomTensor([2], seed: 20, range: 0.5...2)
            checkGradients([x, w, b], tolerance: 3e-2) {
                $0[0].batchNorm(weight: $0[1], bias: $0[2], runningMean: rm.copy(), runningVar: rv.copy(),
                                training: training, eps: 1e-3)
            }
        }
        checkGradients([x, w, b], tolerance: 3e-2) { $0[0].instanceNorm(weight: $0[1], bias: $0[2]) }
    }

    /// The fused instance norm against its definition in elementwise operations, on planes with
    /// a mean far from zero (where a one-pass variance could lose digits) and with no parameters.
    @Test func instanceNormMatchesItsDefinition() {
        let x = randomTensor([3, 4, 9, 7], seed: 23) * 2 + 5, w = randomTensor([4], seed: 24), b = randomTensor([4], seed: 25)
        func definition(_ x: Tensor, _ w: Tensor?, _ b: Tensor?) -> Tensor {
            let centred = x - x.mean(axes: [2, 3], keepDims: true)
            var y = centred / (centred.pow(2).mean(axes: [2, 3], keepDims: true) + 1e-5).sqrt()
            if let w { y = y * w.reshaped([1, 4, 1, 1]) }
            if let b { y = y + b.reshaped([1, 4, 1, 1]) }
            return y
        }
        #expect(maxRelativeError(x.instanceNorm(weight: w, bias: b).scalars, definition(x, w, b).scalars) < 1e-5)
        #expect(maxRelativeError(x.instanceNorm().scalars, definition(x, nil, nil).scalars) < 1e-5)
    }

    /// Plane moments: finite differences (both outputs weighted, so the mean's and the std's
    /// gradients both count), and values and gradients against mean / subtract / square / mean /
    /// sqrt on planes of 63 elements (not a multiple of the 8 lanes) with means far from zero.
    @Test func planeMomentsMatchTheirDefinition() {
        let small = randomTensor([2, 3, 2, 3], seed: 26)
        let weights = randomTensor([2, 3, 2], seed: 27)
        checkGradients([small], tolerance: 3e-2) { ($0[0].planeMoments() * weights).sum() }
        let x = randomTensor([3, 4, 9, 7], seed: 28) * 2 + 40, g = randomTensor([3, 4, 2], seed: 29)
        x.requiresGrad = true
        let moments = x.planeMoments(eps: 1e-3)
        (moments * g).sum().backward()
        let fused = x.grad!
        x.grad = nil
        let mean = x.mean(axes: [2, 3], keepDims: true)
        let std = ((x - mean).pow(2).mean(axes: [2, 3], keepDims: true) + 1e-3).sqrt()
        let definition = Tensor.concat([mean.reshaped([3, 4, 1]), std.reshaped([3, 4, 1])], axis: 2)
        #expect(moments.shape == [3, 4, 2])
        #expect(maxRelativeError(moments.scalars, definition.scalars) < 1e-5)
        (definition * g).sum().backward()
        #expect(maxRelativeError(fused.scalars, x.grad!.scalars) < 1e-4)
        // A plane of 100 + 0.01 k: its std needs the two-pass variance (E[x^2] - mean^2 loses it in Float).
        let flat = Tensor(shape: [1, 1, 2, 4], values: (0..<8).map { 100 + 0.01 * Float($0) })
        let expected = Float(5.25e-4 + 1e-9).squareRoot()                   // the biased variance of 0..7 is 5.25
        #expect(abs(flat.planeMoments(eps: 1e-9).scalars[1] - expected) < 0.01 * expected)
    }

    @Test func shapeOps() {
        let x = randomTensor([2, 3, 4], seed: 21), y = randomTensor([2, 2, 4], seed: 22)
        checkGradients([x]) { $0[0].reshaped([6, 4]) }
        checkGradients([x]) { $0[0].permuted([2, 0, 1]) }
        checkGradients([x]) { $0[0].slice(axis: 1, 1..<3) }
        checkGradients([x, y]) { Tensor.concat([$0[0], $0[1]], axis: 1) }
        checkGradients([randomTensor([3, 1], seed: 23)]) { $0[0].expanded(to: [2, 3, 4]) }
    }

    @Test func paddingAndResize() {
        let x = randomTensor([1, 2, 4, 5], seed: 24)
        checkGradients([x]) { $0[0].padded(top: 1, bottom: 2, left: 0, right: 3) }
        checkGradients([x]) { $0[0].padded(top: 2, bottom: 1, left: 3, right: 2, mode: .reflect) }
        checkGradients([x]) { $0[0].resized(height: 7, width: 3, mode: .bilinear) }
        checkGradients([x]) { $0[0].resized(height: 8, width: 10, mode: .nearest) }
    }
}

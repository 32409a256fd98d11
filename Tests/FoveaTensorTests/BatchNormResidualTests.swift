import Testing
@testable import FoveaTensor

/// A residual block's tail, clamp(batchNorm(x) + r, 0, upper), as one primitive against the
/// three operations.
struct BatchNormResidualTests {
    /// Same values (NaN and infinity included) and the same gradients to x and the residual, on
    /// plane sizes with (7 x 9) and without (4 x 4) an 8-lane tail, both sides of the clamp hit.
    @Test(arguments: [(Float.infinity, [3, 5, 7, 9]), (Float(6), [3, 5, 7, 9]), (Float.infinity, [2, 3, 4, 4])])
    func equalsTheThreeOperations(upper: Float, shape: [Int]) {
        var values = randomTensor(shape, seed: 51, range: -8...8).scalars
        values[10] = .nan
        values[20] = .infinity
        let c = shape[1]
        let (w, b) = (randomTensor([c], seed: 52), randomTensor([c], seed: 53))
        let (mean, variance) = (randomTensor([c], seed: 54), randomTensor([c], seed: 55, range: 0.1...2))
        let residual = randomTensor(shape, seed: 56, range: -4...4), g = randomTensor(shape, seed: 57)
        func run(fused: Bool) -> (y: [Float], dx: [Float], dr: [Float], primitive: String?) {
            let (x, r) = (Tensor(shape: shape, values: values), residual.copy())
            x.requiresGrad = true
            r.requiresGrad = true
            let y = fused
                ? x.batchNormAddClamped(r, weight: w, bias: b, runningMean: mean, runningVar: variance, eps: 1e-3, upper: upper)
                : { let z = x.batchNorm(weight: w, bias: b, runningMean: mean, runningVar: variance, training: false, eps: 1e-3) + r
                    return upper.isFinite ? z.relu6() : z.relu() }()
            (y * g).sum().backward()
            return (y.scalars, x.grad!.scalars, r.grad!.scalars, y.node?.primitive.name)
        }
        let (reference, fused) = (run(fused: false), run(fused: true))
        #expect(fused.primitive == "batchNormAddClamp")
        #expect(zip(fused.y, reference.y).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) })
        #expect(fused.y.contains(0) && (upper.isInfinite || fused.y.contains(upper)))
        #expect(fused.dx == reference.dx)
        #expect(fused.dr == reference.dr)
    }

    /// Only the differentiable inputs get a gradient: a constant residual (a frozen shortcut)
    /// leaves the input's gradient as it was.
    @Test func gradientOnlyWhereNeeded() {
        let x = randomTensor([2, 4, 5, 5], seed: 61, range: -2...2), r = randomTensor([2, 4, 5, 5], seed: 62)
        let (w, b) = (randomTensor([4], seed: 63), randomTensor([4], seed: 64))
        let (mean, variance) = (Tensor(zeros: [4]), Tensor(repeating: 1, shape: [4]))
        x.requiresGrad = true
        let y = x.batchNormAddClamped(r, weight: w, bias: b, runningMean: mean, runningVar: variance, eps: 1e-5, upper: .infinity)
        y.sum().backward()
        #expect(r.grad == nil)
        let expected = x.scalars.indices.map { i -> Float in
            let ch = (i / 25) % 4, scale = w.scalars[ch] / (1 + Float(1e-5)).squareRoot()
            return y.scalars[i] > 0 ? scale : 0
        }
        #expect(zip(x.grad!.scalars, expected).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) })
    }

    /// Eval batch norm, ReLU / ReLU6 and a max pool as one primitive: the same pooled values
    /// (NaN included) and input gradient, bit for bit, as the three operations, for ResNet's
    /// 3x3 / 2 padded pooling (overlapping windows), 2x2 / 2 and ceil mode.
    @Test(arguments: [(Float.infinity, 3, 2, 1, false), (Float(6), 2, 2, 0, false), (Float.infinity, 3, 2, 0, true)])
    func poolingEqualsTheThreeOperations(upper: Float, kernel: Int, stride: Int, padding: Int, ceilMode: Bool) {
        let shape = [2, 3, 13, 18]
        var values = randomTensor(shape, seed: 71, range: -8...8).scalars
        values[40] = .nan
        let (w, b) = (randomTensor([3], seed: 72), randomTensor([3], seed: 73))
        let (mean, variance) = (randomTensor([3], seed: 74), randomTensor([3], seed: 75, range: 0.1...2))
        func run(fused: Bool) -> (y: [Float], dx: [Float], primitive: String?) {
            let x = Tensor(shape: shape, values: values)
            x.requiresGrad = true
            let pad = (padding, padding, padding, padding)
            let y = fused
                ? x.batchNormClampedMaxPool(weight: w, bias: b, runningMean: mean, runningVar: variance, eps: 1e-3, upper: upper,
                                            kernel: (kernel, kernel), stride: (stride, stride), padding: pad, ceilMode: ceilMode)
                : { let z = x.batchNorm(weight: w, bias: b, runningMean: mean, runningVar: variance, training: false, eps: 1e-3)
                    return (upper.isFinite ? z.relu6() : z.relu())
                        .maxPool2d(kernel: (kernel, kernel), stride: (stride, stride), padding: pad, ceilMode: ceilMode) }()
            (y * randomTensor(y.shape, seed: 76)).sum().backward()
            return (y.scalars, x.grad!.scalars, y.node?.primitive.name)
        }
        let (reference, fused) = (run(fused: false), run(fused: true))
        #expect(fused.primitive == "batchNormClampMaxPool")
        #expect(zip(fused.y, reference.y).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) })
        #expect(fused.y.contains(0) && (upper.isInfinite || fused.y.contains(upper)))
        #expect(fused.dx == reference.dx)
        #expect(fused.dx.contains { $0 != 0 })
    }
}

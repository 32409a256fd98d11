import Testing
@testable import FoveaTensor

/// Training-mode batch norm + ReLU / ReLU6 as one primitive against the two operations.
struct BatchNormTrainingTests {
    /// Same output, same running statistics, same gradients to x, weight and bias, on plane
    /// sizes with (7 x 9) and without (4 x 4) an 8-lane tail; values at the clamp's edges
    /// (exactly 0 after the batch norm, beyond 6) included.
    @Test(arguments: [(Float.infinity, [3, 5, 7, 9]), (Float(6), [3, 5, 7, 9]), (Float.infinity, [4, 3, 4, 4])])
    func equalsTheTwoOperations(upper: Float, shape: [Int]) {
        let x = randomTensor(shape, seed: 41, range: -8...8)
        let (w, b) = (randomTensor([shape[1]], seed: 42, range: 2...6), randomTensor([shape[1]], seed: 43, range: -1...1))
        let g = randomTensor(shape, seed: 44)
        func run(fused: Bool) -> (y: [Float], stats: [[Float]], grads: [[Float]], primitive: String?) {
            let (xi, wi, bi) = (x.copy(), w.copy(), b.copy())
            for t in [xi, wi, bi] { t.requiresGrad = true }
            let (mean, variance) = (Tensor(zeros: [shape[1]]), Tensor(repeating: 1, shape: [shape[1]]))
            let y = fused
                ? xi.batchNormTrainingClamped(weight: wi, bias: bi, runningMean: mean, runningVar: variance,
                                              momentum: 0.1, eps: 1e-5, upper: upper)
                : { let n = xi.batchNorm(weight: wi, bias: bi, runningMean: mean, runningVar: variance,
                                         training: true, momentum: 0.1, eps: 1e-5)
                    return upper.isFinite ? n.relu6() : n.relu() }()
            (y * g).sum().backward()
            return (y.scalars, [mean.scalars, variance.scalars], [xi, wi, bi].map { $0.grad!.scalars }, y.node?.primitive.name)
        }
        let (reference, fused) = (run(fused: false), run(fused: true))
        #expect(fused.primitive == "batchNormTrainClamp")
        #expect(fused.y == reference.y)
        #expect(fused.y.contains(0) && (upper.isInfinite || fused.y.contains(upper)))   // both sides of the clamp
        #expect(fused.stats == reference.stats)
        for (ours, theirs) in zip(fused.grads, reference.grads) {
            let worst = zip(ours, theirs).map { abs($0 - $1) / max(abs($1), 1e-3) }.max()!
            #expect(worst < 1e-5, "relative difference \(worst)")
        }
    }

    /// With the 2x2 max pool after them as one primitive too: the same pooled output and
    /// running statistics, bit for bit, and the same gradients to x, weight and bias up to the
    /// order of the sums, on even and odd sizes (floor pooling), pooled rows of 8, 4 and 3.
    @Test(arguments: [(Float.infinity, [3, 5, 8, 10]), (Float(6), [2, 4, 16, 16]), (Float.infinity, [2, 3, 7, 9]),
                      (Float.infinity, [4, 2, 28, 28])])
    func withMaxPoolEqualsTheThreeOperations(upper: Float, shape: [Int]) {
        let x = randomTensor(shape, seed: 45, range: -8...8)
        let (w, b) = (randomTensor([shape[1]], seed: 46, range: 2...6), randomTensor([shape[1]], seed: 47, range: -1...1))
        let g = randomTensor([shape[0], shape[1], shape[2] / 2, shape[3] / 2], seed: 48)
        func run(fused: Bool) -> (y: [Float], stats: [[Float]], grads: [[Float]], primitive: String?) {
            let (xi, wi, bi) = (x.copy(), w.copy(), b.copy())
            for t in [xi, wi, bi] { t.requiresGrad = true }
            let (mean, variance) = (Tensor(zeros: [shape[1]]), Tensor(repeating: 1, shape: [shape[1]]))
            let y = fused
                ? xi.batchNormTrainingClampedMaxPool2x2(weight: wi, bias: bi, runningMean: mean, runningVar: variance,
                                                        momentum: 0.1, eps: 1e-5, upper: upper)
                : { let n = xi.batchNorm(weight: wi, bias: bi, runningMean: mean, runningVar: variance,
                                         training: true, momentum: 0.1, eps: 1e-5)
                    return (upper.isFinite ? n.relu6() : n.relu()).maxPool2d(kernel: (2, 2)) }()
            (y * g).sum().backward()
            return (y.scalars, [mean.scalars, variance.scalars], [xi, wi, bi].map { $0.grad!.scalars }, y.node?.primitive.name)
        }
        let (reference, fused) = (run(fused: false), run(fused: true))
        #expect(fused.primitive == "batchNormTrainClampMaxPool")
        #expect(fused.y == reference.y)
        #expect(fused.y.contains(0) && (upper.isInfinite || fused.y.contains(upper)))   // both sides of the clamp
        #expect(fused.stats == reference.stats)
        for (ours, theirs) in zip(fused.grads, reference.grads) {
            let scale = theirs.map(abs).max()!
            let worst = zip(ours, theirs).map { abs($0 - $1) }.max()! / scale
            #expect(worst < 1e-5, "difference \(worst) of the largest")
        }
    }
}

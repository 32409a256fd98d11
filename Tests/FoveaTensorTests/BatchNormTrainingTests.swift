import Testing
@testable import FoveaTensor

/// Training-mode batch norm + ReLU / ReLU6 (and a 2x2 max pool) as one primitive against the
/// separate operations.
struct BatchNormTrainingTests {
    /// What one training-mode pass gives: output, running statistics, gradients to x, weight
    /// and bias, and the primitive that made the output.
    struct Pass { let y: [Float], stats: [[Float]], grads: [[Float]], primitive: String? }

    /// `layer(x, weight, bias, runningMean, runningVar)` on fresh copies of x, weight and bias
    /// and fresh running statistics, then the gradient of sum(y * g).
    static func run(_ x: Tensor, _ w: Tensor, _ b: Tensor, seed: UInt64,
                    _ layer: (Tensor, Tensor, Tensor, Tensor, Tensor) -> Tensor) -> Pass {
        let (xi, wi, bi) = (x.copy(), w.copy(), b.copy())
        for t in [xi, wi, bi] { t.requiresGrad = true }
        let (mean, variance) = (Tensor(zeros: [w.count]), Tensor(repeating: 1, shape: [w.count]))
        let y = layer(xi, wi, bi, mean, variance)
        (y * randomTensor(y.shape, seed: seed)).sum().backward()
        return Pass(y: y.scalars, stats: [mean.scalars, variance.scalars], grads: [xi, wi, bi].map { $0.grad!.scalars },
                    primitive: y.node?.primitive.name)
    }

    /// clamp(batchNorm(x, training: true), 0, upper) as two operations.
    static func reference(_ x: Tensor, _ w: Tensor, _ b: Tensor, _ mean: Tensor, _ variance: Tensor, upper: Float) -> Tensor {
        let n = x.batchNorm(weight: w, bias: b, runningMean: mean, runningVar: variance, training: true, momentum: 0.1, eps: 1e-5)
        return upper.isFinite ? n.relu6() : n.relu()
    }

    /// The fused pass has the reference's output and running statistics bit for bit, hits both
    /// sides of the clamp, and its gradients are within `tolerance` of the reference's (each
    /// element relative to max(|reference|, 1e-3), or to the largest with `ofLargest`).
    static func expectEqual(_ fused: Pass, _ reference: Pass, primitive: String, upper: Float,
                            tolerance: Float, ofLargest: Bool) {
        #expect(fused.primitive == primitive)
        #expect(fused.y == reference.y)
        #expect(fused.y.contains(0) && (upper.isInfinite || fused.y.contains(upper)))   // both sides of the clamp
        #expect(fused.stats == reference.stats)
        for (ours, theirs) in zip(fused.grads, reference.grads) {
            let largest = theirs.map(abs).max()!
            let worst = zip(ours, theirs).map { abs($0 - $1) / (ofLargest ? largest : max(abs($1), 1e-3)) }.max()!
            #expect(worst < tolerance, "difference \(worst)")
        }
    }

    /// Same output, same running statistics, same gradients to x, weight and bias, on plane
    /// sizes with (7 x 9) and without (4 x 4) an 8-lane tail; values at the clamp's edges
    /// (exactly 0 after the batch norm, beyond 6) included.
    @Test(arguments: [(Float.infinity, [3, 5, 7, 9]), (Float(6), [3, 5, 7, 9]), (Float.infinity, [4, 3, 4, 4])])
    func equalsTheTwoOperations(upper: Float, shape: [Int]) {
        let x = randomTensor(shape, seed: 41, range: -8...8)
        let (w, b) = (randomTensor([shape[1]], seed: 42, range: 2...6), randomTensor([shape[1]], seed: 43, range: -1...1))
        let reference = Self.run(x, w, b, seed: 44) { Self.reference($0, $1, $2, $3, $4, upper: upper) }
        let fused = Self.run(x, w, b, seed: 44) {
            $0.batchNormTrainingClamped(weight: $1, bias: $2, runningMean: $3, runningVar: $4, momentum: 0.1, eps: 1e-5, upper: upper)
        }
        Self.expectEqual(fused, reference, primitive: "batchNormTrainClamp", upper: upper, tolerance: 1e-5, ofLargest: false)
    }

    /// With the 2x2 max pool after them as one primitive too: the same pooled output and
    /// running statistics, bit for bit, and the same gradients to x, weight and bias up to the
    /// order of the sums, on even and odd sizes (floor pooling), pooled rows of 8, 4 and 3.
    @Test(arguments: [(Float.infinity, [3, 5, 8, 10]), (Float(6), [2, 4, 16, 16]), (Float.infinity, [2, 3, 7, 9]),
                      (Float.infinity, [4, 2, 28, 28])])
    func withMaxPoolEqualsTheThreeOperations(upper: Float, shape: [Int]) {
        let x = randomTensor(shape, seed: 45, range: -8...8)
        let (w, b) = (randomTensor([shape[1]], seed: 46, range: 2...6), randomTensor([shape[1]], seed: 47, range: -1...1))
        let reference = Self.run(x, w, b, seed: 48) { Self.reference($0, $1, $2, $3, $4, upper: upper).maxPool2d(kernel: (2, 2)) }
        let fused = Self.run(x, w, b, seed: 48) {
            $0.batchNormTrainingClampedMaxPool2x2(weight: $1, bias: $2, runningMean: $3, runningVar: $4,
                                                  momentum: 0.1, eps: 1e-5, upper: upper)
        }
        Self.expectEqual(fused, reference, primitive: "batchNormTrainClampMaxPool", upper: upper, tolerance: 1e-5, ofLargest: true)
    }
}

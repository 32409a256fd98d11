import Testing
@testable import FoveaTensor

/// Deterministic test tensors.
func randomTensor(_ shape: [Int], seed: UInt64 = 1, range: ClosedRange<Float> = -1...1) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor.uniform(shape, in: range, using: &g)
}

/// Largest |a - b| relative to max(1, |b|).
func maxRelativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
    return zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
}

/// Checks the analytic gradient of every input of `f` against central finite differences.
///
/// The loss is L = sum_i r_i f(x)_i with fixed random weights r, accumulated in Double; each
/// input element is perturbed by +-h and dL/dx is (L(x+h) - L(x-h)) / 2h. Float32 forward passes
/// limit the agreement to about 1e-3 relative at h = 1e-2 on O(1) values.
func checkGradients(_ inputs: [Tensor], h: Float = 1e-2, tolerance: Float = 2e-2,
                    sourceLocation: SourceLocation = #_sourceLocation,
                    _ f: ([Tensor]) -> Tensor) {
    for x in inputs { x.requiresGrad = true; x.grad = nil }
    let y = f(inputs)
    let r = randomTensor(y.shape, seed: 99)
    (y * r).sum().backward()
    let weights = r.scalars.map(Double.init)
    func loss() -> Double {
        withNoGrad { zip(f(inputs).scalars, weights).reduce(0) { $0 + Double($1.0) * $1.1 } }
    }
    for (k, x) in inputs.enumerated() {
        let analytic = x.grad?.scalars ?? [Float](repeating: 0, count: x.count)
        var numeric = [Float](repeating: 0, count: x.count)
        let p = x.storage.pointer
        for i in 0..<x.count {
            let saved = p[i]
            p[i] = saved + h; let up = loss()
            p[i] = saved - h; let down = loss()
            p[i] = saved
            numeric[i] = Float((up - down) / (2 * Double(h)))
        }
        let err = maxRelativeError(analytic, numeric)
        #expect(err < tolerance, "input \(k) \(x.shape): max relative gradient error \(err)", sourceLocation: sourceLocation)
    }
}

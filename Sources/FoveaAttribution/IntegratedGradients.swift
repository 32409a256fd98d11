import Foundation
import Fovea
import FoveaNN
import FoveaTensor

/// Integrated Gradients attributions and how well they add up.
public struct IntegratedGradientsResult: Sendable {
    /// Per input element: (x - x') * integral over the path of dS/dx, [1, C, H, W].
    public let attribution: Tensor
    /// The map: per pixel the channel sum of the attribution (signed).
    public let map: SaliencyMap
    /// sum(attribution) - (S(x) - S(x')): zero for exact integration.
    public let completenessError: Float
    /// S(x) - S(x'), the quantity the attributions should sum to.
    public let scoreDifference: Float
}

/// How the path integral is approximated.
public enum Quadrature: String, CaseIterable, Sendable {
    /// n-point Gauss-Legendre on [0, 1] (Captum's default): exact for polynomials of degree 2n-1.
    case gaussLegendre = "gauss-legendre"
    /// Trapezoid rule on n intervals (n + 1 points).
    case trapezoid

    /// Points a_k in [0, 1] and weights w_k (summing to 1).
    public func rule(_ n: Int) -> [(alpha: Float, weight: Float)] {
        switch self {
        case .trapezoid:
            return (0...n).map { k in (Float(k) / Float(n), (k == 0 || k == n ? 0.5 : 1) / Float(n)) }
        case .gaussLegendre:
            // Roots of the Legendre polynomial P_n by Newton's method from Tricomi's guess,
            // w = 2 / ((1 - x^2) P_n'(x)^2); mapped from [-1, 1] to [0, 1], ascending.
            return (1...n).map { i -> (Float, Float) in
                var x = cos(Double.pi * (Double(i) - 0.25) / (Double(n) + 0.5))
                var derivative = 0.0
                for _ in 0..<100 {
                    var (p0, p1) = (1.0, x)
                    for k in stride(from: 2, through: n, by: 1) {
                        (p0, p1) = (p1, (Double(2 * k - 1) * x * p1 - Double(k - 1) * p0) / Double(k))
                    }
                    derivative = Double(n) * (x * p1 - p0) / (x * x - 1)
                    let step = p1 / derivative
                    x -= step
                    if Swift.abs(step) < 1e-15 { break }
                }
                let weight = 2 / ((1 - x * x) * derivative * derivative)
                return (Float((1 - x) / 2), Float(weight / 2))
            }
        }
    }
}

extension ImageClassifier {
    /// Integrated Gradients (Sundararajan et al. 2017) from `baseline` (zeros by default) to the
    /// input: attr = (x - x') * sum_k w_k dS/dx(x' + a_k (x - x')) with the quadrature's points
    /// and weights, evaluated `batch` points at a time. S(x) and S(x') are computed too, for the
    /// completeness error.
    ///
    /// When the network's first layers are affine (``AffineStem``: a convolution and an eval
    /// batch norm) the path is walked in the stem's output space, where it is straight too,
    /// and the summed gradient is taken back through the stem's constant Jacobian once: the
    /// same attribution, up to float rounding, with the stem run three times instead of twice
    /// per step. There each step also computes the target's logit alone
    /// (``AffineStem/score(afterStem:target:)``), whose gradient is the classifier's row.
    public func integratedGradients(_ input: Tensor, target: Int, baseline: Tensor? = nil, steps: Int = 50,
                                    quadrature: Quadrature = .gaussLegendre, batch: Int = 10) throws -> IntegratedGradientsResult {
        guard steps >= 1 else { throw FoveaError("--steps \(steps): Integrated Gradients needs at least one step") }
        let reference = baseline ?? Tensor(zeros: input.shape)
        let delta = withNoGrad { input - reference }
        // The path's ends and the network from them: in the stem's output space when separable.
        let stem = (module as? AffineStem).flatMap { $0.stemIsSeparable ? $0 : nil }
        let (start, end) = withNoGrad { stem.map { ($0.stem(reference), $0.stem(input)) } ?? (reference, input) }
        let run: (Tensor) -> Tensor = stem.map { stem in { stem.forward(afterStem: $0) } } ?? { self.module($0) }
        // S(h), [N, 1]: through the classifier's target row alone when nothing can tell.
        let score: (Tensor) throws -> Tensor
        if let stem, stem.scoreIsSeparable {
            let classes = stem.classifier.weight.shape[0]
            guard target >= 0 && target < classes else {
                throw FoveaError("--target \(target): class index out of range 0..<\(classes)")
            }
            score = { stem.score(afterStem: $0, target: target) }
        } else {
            score = { h in
                let logits = run(h)
                guard target >= 0 && target < logits.shape[1] else {
                    throw FoveaError("--target \(target): class index out of range 0..<\(logits.shape[1])")
                }
                return logits.slice(axis: 1, target..<(target + 1))
            }
        }
        let path = withNoGrad { end - start }
        let points = quadrature.rule(steps)
        // dS/dh at h = start + a path for each a, [len(alphas), C, H, W], in one batch.
        func gradients(_ alphas: [Float]) throws -> Tensor {
            // images[r] = start + a_r * path, in one pass per point.
            let ps = start.storage.pointer, pp = path.storage.pointer, count = start.count
            let images = Tensor(overwriting: [alphas.count] + start.shape.dropFirst()) { out in
                for (r, alpha) in alphas.enumerated() {
                    let row = out.baseAddress! + r * count
                    for i in 0..<count { row[i] = ps[i] + pp[i] * alpha }
                }
            }
            images.requiresGrad = true
            // The sum over the batch of the target score: each image gets its own gradient.
            try score(images).sum().backward()
            return images.grad!
        }
        // sum += w_k dS/dh at h = start + a_k path for the chunk's points, run as one batch.
        func addWeightedGradients(_ chunk: ArraySlice<(alpha: Float, weight: Float)>, into sum: Tensor) throws {
            let grads = try gradients(chunk.map(\.alpha))
            withExtendedLifetime(grads) {
                let accumulated = sum.storage.pointer, count = sum.count
                for (row, point) in chunk.enumerated() {
                    let g = grads.storage.pointer + row * count
                    for i in 0..<count { accumulated[i] += point.weight * g[i] }
                }
            }
        }
        // Points one batch after the other, each pass split over every core: on the 2-core
        // Intel host, 50 points of EfficientNet-Lite0 took 0.91-0.93 s this way against
        // 1.09-1.23 s with two single-core passes at once (why is not established: after the
        // stem these passes barely use oneDNN, which a single-core pass gives up).
        var total = Tensor(zeros: start.shape)
        for first in stride(from: 0, to: points.count, by: batch) {
            try addWeightedGradients(points[first..<min(first + batch, points.count)], into: total)
        }
        if let stem {
            // sum_k w_k dS/dx = J^T (sum_k w_k dS/dh): one backward pass through the stem.
            let x = reference.detached()
            x.requiresGrad = true
            (stem.stem(x) * total).sum().backward()
            total = x.grad!
        }
        let attribution = withNoGrad { total * delta }
        let ends = withNoGrad { run(Tensor.concat([end, start], axis: 0)) }
        let scoreDifference = ends.storage.pointer[target] - ends.storage.pointer[ends.shape[1] + target]
        let completeness = attribution.scalars.reduce(0, +) - scoreDifference
        let (h, w) = (input.shape[2], input.shape[3])
        let perPixel = withNoGrad { attribution.sum(axes: [1]) }.scalars
        return IntegratedGradientsResult(
            attribution: attribution,
            map: SaliencyMap(values: perPixel, height: h, width: w, method: "integrated-gradients", layer: nil, target: target),
            completenessError: completeness, scoreDifference: scoreDifference)
    }
}

import Foundation
import FoveaTensor

/// L-BFGS (Nocedal & Wright, algorithm 7.5) with a strong-Wolfe line search (algorithms 3.5
/// and 3.6, cubic interpolation), the method of `torch.optim.LBFGS(line_search_fn="strong_wolfe")`.
///
/// The objective is re-evaluated inside each step, so ``step(_:)`` takes a closure that zeroes
/// the gradients, computes the loss, runs backward and returns the loss. Vectors are the
/// parameters flattened in order; dot products accumulate in Double.
///
/// ```swift
/// let optimizer = LBFGS([image], maxIterations: 20)
/// for _ in 0..<10 { optimizer.step { image.zeroGrad(); let l = loss(image); l.backward(); return l.item } }
/// ```
public final class LBFGS {
    public let parameters: [Tensor]
    /// The first trial step of each line search (1 is the natural step of a quasi-Newton method).
    public var learningRate: Float
    /// Iterations (direction + line search) per call of ``step(_:)``.
    public let maxIterations: Int
    /// Curvature pairs kept.
    public let history: Int
    public let gradientTolerance: Float, changeTolerance: Float
    /// Objective evaluations so far, line searches included.
    public private(set) var evaluations = 0

    private var s: [[Float]] = [], y: [[Float]] = [], rho: [Double] = []
    private var previousGradient: [Float]?, previousDirection: [Float]?, previousStep: Float = 0
    private var iterations = 0

    public init(_ parameters: [Tensor], learningRate: Float = 1, maxIterations: Int = 20, history: Int = 10,
                gradientTolerance: Float = 1e-7, changeTolerance: Float = 1e-9) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.maxIterations = maxIterations
        self.history = history
        self.gradientTolerance = gradientTolerance
        self.changeTolerance = changeTolerance
    }

    /// Runs up to ``maxIterations`` iterations, and at most `maxEvaluations` objective
    /// evaluations (default 5/4 of the iterations, as PyTorch's `max_eval`), and returns the
    /// first loss the closure gave. `onIteration` sees each finished iteration's number
    /// (from 1) and loss.
    @discardableResult
    public func step(maxEvaluations: Int? = nil, onIteration: ((Int, Float) -> Void)? = nil, _ closure: () -> Float) -> Float {
        let evaluationLimit = evaluations + (maxEvaluations ?? maxIterations * 5 / 4)
        var x = flatParameters()
        var (f, g) = evaluate(closure)
        let firstLoss = f
        guard f.isFinite, maxAbs(g) > gradientTolerance else { return firstLoss }
        for iteration in 1...maxIterations {
            iterations += 1
            if let previousGradient, let previousDirection {
                // New curvature pair s = t d, y = g - g_prev, kept when y.s > 0 (the update stays positive definite).
                let sk = previousDirection.map { $0 * previousStep }
                let yk = zip(g, previousGradient).map { $0 - $1 }
                let ys = dot(yk, sk)
                if ys > 1e-10 {
                    if s.count == history { s.removeFirst(); y.removeFirst(); rho.removeFirst() }
                    s.append(sk); y.append(yk); rho.append(1 / ys)
                }
            }
            let d = direction(g)
            // The first iteration ever has no curvature to scale by: a step of lr / |g|_1 at most.
            var t = iterations == 1 ? min(1, 1 / Float(g.reduce(0) { $0 + Double(abs($1)) })) * learningRate : learningRate
            let gtd = dot(g, d)
            guard gtd < -Double(changeTolerance) else { break }
            let (fOld, gOld) = (f, g)
            (t, f, g) = lineSearch(x, f, g, d, t, gtd, closure)
            for i in x.indices { x[i] += t * d[i] }
            setParameters(x)
            previousGradient = gOld
            previousDirection = d
            previousStep = t
            onIteration?(iteration, f)
            if evaluations >= evaluationLimit { break }
            if maxAbs(g) <= gradientTolerance || abs(t) * maxAbs(d) <= changeTolerance || abs(f - fOld) < changeTolerance { break }
        }
        return firstLoss
    }

    /// d = -H g by the two-loop recursion, H0 = (s.y / y.y) I from the newest pair.
    private func direction(_ g: [Float]) -> [Float] {
        var q = g.map(Double.init)
        var alpha = [Double](repeating: 0, count: s.count)
        for i in stride(from: s.count - 1, through: 0, by: -1) {
            alpha[i] = rho[i] * dot(s[i], q)
            for j in q.indices { q[j] -= alpha[i] * Double(y[i][j]) }
        }
        if let last = y.indices.last {
            let gamma = dot(s[last], y[last]) / dot(y[last], y[last])
            for j in q.indices { q[j] *= gamma }
        }
        for i in s.indices {
            let beta = rho[i] * dot(y[i], q)
            for j in q.indices { q[j] += Double(s[i][j]) * (alpha[i] - beta) }
        }
        return q.map { Float(-$0) }
    }

    /// A step t along d meeting the strong Wolfe conditions f(x + t d) <= f + c1 t g.d and
    /// |g(x + t d).d| <= c2 |g.d| (c1 = 1e-4, c2 = 0.9), with the loss and gradient there.
    /// The parameters hold x + t d for the last evaluation; the caller sets them to the result.
    private func lineSearch(_ x: [Float], _ f0: Float, _ g0: [Float], _ d: [Float], _ t0: Float, _ gtd0: Double,
                            _ closure: () -> Float) -> (Float, Float, [Float]) {
        let (c1, c2) = (1e-4, 0.9)
        func at(_ t: Float) -> (Float, [Float], Double) {
            setParameters(zip(x, d).map { $0 + t * $1 })
            let (f, g) = evaluate(closure)
            return (f, g, dot(g, d))
        }
        var (tPrev, fPrev, gPrev, gtdPrev) = (Float(0), f0, g0, gtd0)
        var t = t0
        var (f, g, gtd) = at(t)
        var bracket: (lo: (t: Float, f: Float, g: [Float], gtd: Double), hi: (t: Float, f: Float, g: [Float], gtd: Double))?
        for i in 0..<25 {
            if !f.isFinite || Double(f) > Double(f0) + c1 * Double(t) * gtd0 || (i > 0 && f >= fPrev) {
                bracket = ((tPrev, fPrev, gPrev, gtdPrev), (t, f, g, gtd)); break
            }
            if abs(gtd) <= -c2 * gtd0 { return (t, f, g) }
            if gtd >= 0 { bracket = ((t, f, g, gtd), (tPrev, fPrev, gPrev, gtdPrev)); break }
            // Extrapolate: the cubic's minimiser in [t + 0.01 (t - tPrev), 10 t].
            let next = cubicMinimum(tPrev, fPrev, gtdPrev, t, f, gtd, bounds: (t + 0.01 * (t - tPrev), t * 10))
            (tPrev, fPrev, gPrev, gtdPrev) = (t, f, g, gtd)
            t = next
            (f, g, gtd) = at(t)
        }
        guard var (lo, hi) = bracket else { return (t, f, g) }
        // Zoom: shrink [lo, hi] (lo: the best point meeting the decrease condition so far).
        for _ in 0..<25 {
            if abs(hi.t - lo.t) * Float(maxAbs(d)) < changeTolerance { break }
            let (a, b) = (min(lo.t, hi.t), max(lo.t, hi.t))
            var tz = cubicMinimum(lo.t, lo.f, lo.gtd, hi.t, hi.f, hi.gtd, bounds: (a, b))
            // Keep away from the ends (a tenth of the interval), as interpolation can stall there.
            let margin = 0.1 * (b - a)
            if tz - a < margin || b - tz < margin { tz = (a + b) / 2 }
            let (fz, gz, gtdz) = at(tz)
            if !fz.isFinite || Double(fz) > Double(f0) + c1 * Double(tz) * gtd0 || fz >= lo.f {
                hi = (tz, fz, gz, gtdz)
            } else {
                if abs(gtdz) <= -c2 * gtd0 { return (tz, fz, gz) }
                if gtdz * Double(hi.t - lo.t) >= 0 { hi = lo }
                lo = (tz, fz, gz, gtdz)
            }
        }
        if lo.t == 0 { setParameters(x) }
        return (lo.t, lo.f, lo.g)
    }

    /// The minimiser of the cubic through (t1, f1, f1') and (t2, f2, f2'), clamped to `bounds`
    /// (their midpoint when the cubic has no minimum).
    private func cubicMinimum(_ t1: Float, _ f1: Float, _ g1: Double, _ t2: Float, _ f2: Float, _ g2: Double,
                              bounds: (Float, Float)) -> Float {
        let (lo, hi) = (min(bounds.0, bounds.1), max(bounds.0, bounds.1))
        let d1 = g1 + g2 - 3 * Double(f1 - f2) / Double(t1 - t2)
        let square = d1 * d1 - g1 * g2
        guard square >= 0, t1 != t2 else { return (lo + hi) / 2 }
        let d2 = square.squareRoot() * (t2 > t1 ? 1 : -1)
        let t = Double(t2) - Double(t2 - t1) * (g2 + d2 - d1) / (g2 - g1 + 2 * d2)
        guard t.isFinite else { return (lo + hi) / 2 }
        return min(max(Float(t), lo), hi)
    }

    private func evaluate(_ closure: () -> Float) -> (Float, [Float]) {
        evaluations += 1
        let f = closure()
        var g: [Float] = []
        g.reserveCapacity(parameters.reduce(0) { $0 + $1.count })
        for p in parameters { g += p.grad.map { Array($0.buffer) } ?? [Float](repeating: 0, count: p.count) }
        return (f, g)
    }

    private func flatParameters() -> [Float] { parameters.flatMap { Array($0.buffer) } }

    private func setParameters(_ x: [Float]) {
        var offset = 0
        for p in parameters {
            let b = p.buffer
            for i in 0..<b.count { b[i] = x[offset + i] }
            offset += b.count
        }
    }
}

private func dot(_ a: [Float], _ b: [Float]) -> Double {
    var sum = 0.0
    for i in a.indices { sum += Double(a[i]) * Double(b[i]) }
    return sum
}

private func dot(_ a: [Float], _ b: [Double]) -> Double {
    var sum = 0.0
    for i in a.indices { sum += Double(a[i]) * b[i] }
    return sum
}

private func maxAbs(_ a: [Float]) -> Float { a.reduce(0) { max($0, abs($1)) } }

import Foundation
import FoveaTensor

/// Updates parameters in place from their accumulated ``Tensor/grad``.
public protocol Optimizer: AnyObject {
    var parameters: [Tensor] { get }
    var learningRate: Float { get set }
    /// One update from the current gradients (parameters without a gradient are skipped).
    func step()
}

extension Optimizer {
    /// Drops every parameter's gradient (call before each backward pass).
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }
}

/// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay, the
/// update of `torch.optim.SGD`:
/// g = grad + wd p; b = momentum b + (1 - dampening) g (b = g on the first step);
/// g = nesterov ? g + momentum b : b; p = p - lr g.
public final class SGD: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Float
    public let momentum, dampening, weightDecay: Float
    public let nesterov: Bool
    private var buffers: [ObjectIdentifier: [Float]] = [:]

    public init(_ parameters: [Tensor], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
                weightDecay: Float = 0, nesterov: Bool = false) {
        precondition(!nesterov || (momentum > 0 && dampening == 0), "Nesterov momentum needs momentum > 0 and no dampening")
        self.parameters = parameters
        self.learningRate = learningRate
        (self.momentum, self.dampening, self.weightDecay, self.nesterov) = (momentum, dampening, weightDecay, nesterov)
    }

    public func step() {
        for p in parameters {
            guard let grad = p.grad else { continue }
            let (w, g) = (p.buffer, grad.buffer)
            let key = ObjectIdentifier(p)
            let first = buffers[key] == nil
            var b = buffers[key] ?? [Float](repeating: 0, count: w.count)
            for i in 0..<w.count {
                var d = g[i] + weightDecay * w[i]
                if momentum != 0 {
                    b[i] = first ? d : momentum * b[i] + (1 - dampening) * d
                    d = nesterov ? d + momentum * b[i] : b[i]
                }
                w[i] -= learningRate * d
            }
            if momentum != 0 { buffers[key] = b }
        }
    }
}

/// Adam (Kingma & Ba) with L2 weight decay added to the gradient, the update of `torch.optim.Adam`:
/// g = grad + wd p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
/// p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
public final class Adam: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Float
    public let beta1, beta2, epsilon, weightDecay: Float
    private var moments: [ObjectIdentifier: (m: [Float], v: [Float])] = [:]
    public private(set) var stepCount = 0

    public init(_ parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        (self.beta1, self.beta2, self.epsilon, self.weightDecay) = (beta1, beta2, epsilon, weightDecay)
    }

    /// Each parameter's first and second moments, in order (nil before its first step): with
    /// ``stepCount``, what a resumable checkpoint keeps.
    public var momentState: [(m: [Float], v: [Float])?] { parameters.map { moments[ObjectIdentifier($0)] } }

    /// Continues from a checkpoint's moments (in parameter order) and step count.
    public func restore(moments state: [(m: [Float], v: [Float])?], stepCount: Int) {
        precondition(state.count == parameters.count, "restore: \(state.count) moments for \(parameters.count) parameters")
        moments = [:]
        for (p, mv) in zip(parameters, state) { if let mv { moments[ObjectIdentifier(p)] = mv } }
        self.stepCount = stepCount
    }

    public func step() {
        stepCount += 1
        let t = Float(stepCount)
        let stepSize = learningRate / (1 - pow(beta1, t))
        let correction2 = (1 - pow(beta2, t)).squareRoot()
        for p in parameters {
            guard let grad = p.grad else { continue }
            let (w, g) = (p.buffer, grad.buffer)
            let key = ObjectIdentifier(p)
            var (m, v) = moments.removeValue(forKey: key)
                ?? ([Float](repeating: 0, count: w.count), [Float](repeating: 0, count: w.count))
            let (beta1, beta2, weightDecay, epsilon) = (beta1, beta2, weightDecay, epsilon)
            m.withUnsafeMutableBufferPointer { m in
                v.withUnsafeMutableBufferPointer { v in
                    let (pm, pv, pw, pg) = (m.baseAddress!, v.baseAddress!, w.baseAddress!, g.baseAddress!)
                    // Large tensors (the 3136 x 128 linear layer) split over the cores, 16-aligned.
                    let count = w.count
                    Parallel.split(limit: count >= 1 << 15 ? count / 4096 : 1) { part, parts in
                        let piece = (count / parts + 15) & ~15
                        for i in min(part * piece, count)..<(part == parts - 1 ? count : min((part + 1) * piece, count)) {
                            let d = pg[i] + weightDecay * pw[i]
                            pm[i] = beta1 * pm[i] + (1 - beta1) * d
                            pv[i] = beta2 * pv[i] + (1 - beta2) * d * d
                            pw[i] -= stepSize * pm[i] / (pv[i].squareRoot() / correction2 + epsilon)
                        }
                    }
                }
            }
            moments[key] = (m, v)
        }
    }
}

/// The learning rate at each step, from the optimiser's initial rate.
public enum LearningRateSchedule: Sendable, Equatable {
    case constant
    /// Multiply by `gamma` every `every` steps (`torch.optim.lr_scheduler.StepLR`).
    case step(every: Int, gamma: Float)
    /// Cosine annealing from the initial rate to 0 over `total` steps (`CosineAnnealingLR`, eta_min 0):
    /// lr_t = lr_0 (1 + cos(pi t / total)) / 2.
    case cosine(total: Int)

    public func rate(initial: Float, step t: Int) -> Float {
        switch self {
        case .constant: return initial
        case .step(let every, let gamma): return initial * pow(gamma, Float(t / max(every, 1)))
        case .cosine(let total): return initial * Float(1 + cos(Double.pi * Double(min(t, total)) / Double(max(total, 1)))) / 2
        }
    }
}

import Foundation
import Fovea
import FoveaIO
import FoveaModels
import FoveaTensor

/// An adversarial attack's settings. Epsilon and step size are in pixel units on the 0...1
/// scale of the original image, applied before the model's normalisation.
public struct AttackSettings: Sendable {
    public enum Method: String, CaseIterable, Sendable { case fgsm, pgd }
    public var method: Method
    public var epsilon: Float
    /// PGD: iterations and step size (default 2.5 * epsilon / steps, Madry et al.).
    public var steps = 10
    public var stepSize: Float?
    /// Targeted attacks push towards this class; untargeted ones away from `label`
    /// (the true class, or the model's own top-1 when nil).
    public var target: Int?
    public var label: Int?
    /// PGD: start from a random point of the epsilon ball.
    public var randomStart = true
    /// Snap every iterate to the 8-bit grid (k / 255), so the saved PNG is the attack itself.
    public var quantize = false
    public var seed: UInt64 = 0

    public init(method: Method, epsilon: Float) {
        self.method = method
        self.epsilon = epsilon
    }

    /// Parses "2/255" (a fraction), "8" (on the 0...255 scale, any value >= 1) or "0.03" (on the
    /// 0...1 scale, values below 1). Negative, non-finite or above-255 values are errors.
    public static func parseEpsilon(_ text: String, option: String = "--epsilon") throws -> Float {
        let value: Float?
        if let slash = text.firstIndex(of: "/") {
            let (a, b) = (Float(text[..<slash]), Float(text[text.index(after: slash)...]))
            value = a.flatMap { a in b.flatMap { $0 != 0 ? a / $0 : nil } }
        } else if let v = Float(text) {
            value = v >= 1 ? v / 255 : v
        } else {
            value = nil
        }
        guard let value, value.isFinite else { throw FoveaError("\(option) \(text): not a number (use 8, 8/255 or 0.03)") }
        guard value >= 0 else { throw FoveaError("\(option) \(text): must not be negative") }
        guard value <= 1 else { throw FoveaError("\(option) \(text): larger than the whole pixel range") }
        return value
    }
}

/// The outcome of an attack on one image.
public struct AttackResult: Sendable {
    /// Pixels on the 0...1 scale, [1, 3, H, W].
    public let clean: Tensor
    public let adversarial: Tensor
    public let before: Prediction
    public let after: Prediction
    /// The class the attack pushed away from (untargeted) or towards (targeted).
    public let sourceClass: Int
    public let targetClass: Int?
    public let succeeded: Bool
    /// The cross-entropy gradient was exactly zero (a saturated softmax: p = 1 in float), so the
    /// attack followed the logit margin max_{j != y} z_j - z_y instead (as Carlini & Wagner do).
    public var usedLogitMargin = false

    /// max |delta| and ||delta||_2 on the 0...1 scale.
    public var linf: Float { zip(adversarial.scalars, clean.scalars).map { Swift.abs($0 - $1) }.max() ?? 0 }
    public var l2: Float { zip(adversarial.scalars, clean.scalars).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot() }
}

extension ImageClassifier {
    /// Pixels (0...1, [1, C, H, W]) of an 8-bit crop.
    public func pixels(_ crop: Image) -> Tensor { crop.toTensor(scale: 1 / 255, channels: preprocessing.channels) }

    /// The model input of pixels p in 0...1: (255 p - mean) / std per channel, differentiable.
    public func normalizedInput(_ p: Tensor) -> Tensor {
        let m = preprocessing
        let c = m.channels
        let scale = Tensor(shape: [1, c, 1, 1], values: (0..<c).map { 255 / m.std[$0] })
        let shift = Tensor(shape: [1, c, 1, 1], values: (0..<c).map { m.mean[$0] / m.std[$0] })
        return p * scale - shift
    }

    /// The 8-bit image of pixels in 0...1.
    public func image(ofPixels p: Tensor) -> Image { Image(tensor: p, scale: 1 / 255) }

    /// d loss / d pixels of a batch [B, C, H, W], loss = sum over b of the cross-entropy of
    /// logits_b with `labels[b]` (in eval mode each image's gradient is its own loss's). An image
    /// whose cross-entropy gradient is exactly zero (saturated softmax) gets the gradient of the
    /// logit margin max_{j != y} z_j - z_y instead, which points the same way and never
    /// saturates; `marginImages` counts them. Must run with recording on (not inside `withNoGrad`).
    func lossGradient(_ p: Tensor, labels: [Int]) -> Tensor {
        var marginImages = 0
        return lossGradient(p, labels: labels, marginImages: &marginImages)
    }

    func lossGradient(_ p: Tensor, labels: [Int], marginImages: inout Int) -> Tensor {
        let x = p.detached()
        x.requiresGrad = true
        module(normalizedInput(x)).crossEntropy(labels: labels, mean: false).backward()
        let g = x.grad ?? Tensor(zeros: p.shape)
        let batch = p.shape[0], per = p.count / batch
        let values = g.scalars
        let flat = (0..<batch).filter { b in values[(b * per)..<((b + 1) * per)].allSatisfy { $0 == 0 } }
        guard !flat.isEmpty else { return g }
        let y = p.detached()
        y.requiresGrad = true
        let z = module(normalizedInput(y))
        let classes = z.shape[1], scores = z.scalars
        var weights = [Float](repeating: 0, count: batch * classes)
        for b in flat {
            let row = scores[(b * classes)..<((b + 1) * classes)]
            let runnerUp = row.indices.filter { $0 - b * classes != labels[b] }.max { row[$0] < row[$1] }! - b * classes
            weights[b * classes + runnerUp] = 1
            weights[b * classes + labels[b]] = -1
        }
        (z * Tensor(shape: [batch, classes], values: weights)).sum().backward()
        let margin = y.grad?.scalars ?? []
        var combined = values
        for b in flat { for i in (b * per)..<((b + 1) * per) { combined[i] = margin.isEmpty ? 0 : margin[i] } }
        marginImages += flat.count
        return Tensor(shape: p.shape, values: combined)
    }

    /// The adversarial pixels of a batch `clean` [B, C, H, W] (0...1): FGSM or PGD ascending the
    /// cross-entropy of `labels` (untargeted) or descending it (`targeted`: labels are the
    /// targets). Iterates stay in the L-infinity epsilon ball around `clean` and in 0...1.
    public func perturb(_ clean: Tensor, labels: [Int], targeted: Bool, _ s: AttackSettings) -> Tensor {
        var marginImages = 0
        return perturb(clean, labels: labels, targeted: targeted, s, marginImages: &marginImages)
    }

    /// ``perturb(_:labels:targeted:_:)``, counting the gradient steps that fell back to the logit margin.
    public func perturb(_ clean: Tensor, labels: [Int], targeted: Bool, _ s: AttackSettings, marginImages: inout Int) -> Tensor {
        FrozenWeights.run {
            precondition(clean.shape[0] == labels.count, "one label per image")
            let direction: Float = targeted ? -1 : 1
            let lower = withNoGrad { (clean - s.epsilon).clamped(min: 0) }
            let upper = withNoGrad { 1 - (1 - clean - s.epsilon).clamped(min: 0) }     // min(clean + eps, 1)
            let (lo, hi) = (lower.scalars, upper.scalars)                             // read once, used every step
            func project(_ p: Tensor) -> Tensor {
                let values = p.scalars
                return Tensor(shape: p.shape, values: (0..<values.count).map { i in
                    var v = Swift.min(Swift.max(values[i], lo[i]), hi[i])
                    if s.quantize {
                        // The 8-bit value nearest v inside [lo, hi] (the ball always holds the clean value).
                        v = (v * 255).rounded() / 255
                        if v < lo[i] { v += 1 / 255 }
                        if v > hi[i] { v -= 1 / 255 }
                    }
                    return v
                })
            }
            switch s.method {
            case .fgsm:
                let g = lossGradient(clean, labels: labels, marginImages: &marginImages)      // outside withNoGrad: it records
                return project(withNoGrad { clean + g.sign() * (direction * s.epsilon) })
            case .pgd:
                var generator = SeededGenerator(seed: s.seed)
                var p = s.randomStart
                    ? project(withNoGrad { clean + Tensor.uniform(clean.shape, in: -s.epsilon...s.epsilon, using: &generator) })
                    : clean
                let step = s.stepSize ?? 2.5 * s.epsilon / Float(s.steps)
                for _ in 0..<s.steps {
                    let g = lossGradient(p, labels: labels, marginImages: &marginImages)
                    p = project(withNoGrad { p + g.sign() * (direction * step) })
                }
                return p
            }
        }
    }

    /// FGSM (Goodfellow et al. 2015) or PGD (Madry et al. 2018) on the pixels `clean` (0...1) of
    /// one image. Untargeted: ascend the cross-entropy of `label` (default: the model's top-1);
    /// targeted: descend the cross-entropy of `target`.
    public func attack(_ clean: Tensor, _ s: AttackSettings) throws -> AttackResult {
        let before = predict(normalizedInput(clean))
        let source = s.label ?? before.top(1)[0].index
        let classes = before.probabilities.count
        if let t = s.target {
            guard t >= 0 && t < classes else { throw FoveaError("--target \(t): class index out of range 0..<\(classes)") }
            guard t != source else {
                throw FoveaError("--target \(t): the image is already classified as \(labels.short(t)); a targeted attack needs another class")
            }
        }
        guard source >= 0 && source < classes else { throw FoveaError("--label \(source): class index out of range 0..<\(classes)") }
        guard s.steps >= 1 else { throw FoveaError("--steps \(s.steps): at least one step") }
        var marginImages = 0
        let p = perturb(clean, labels: [s.target ?? source], targeted: s.target != nil, s, marginImages: &marginImages)
        let after = predict(normalizedInput(p))
        let top = after.top(1)[0].index
        let succeeded = s.target.map { top == $0 } ?? (top != source)
        var result = AttackResult(clean: clean, adversarial: p, before: before, after: after, sourceClass: source,
                                  targetClass: s.target, succeeded: succeeded)
        result.usedLogitMargin = marginImages > 0
        return result
    }
}

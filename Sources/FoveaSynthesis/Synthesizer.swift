import Foundation
import Fovea
import FoveaNN
import FoveaONNX
import FoveaKeras
import FoveaOptim
import FoveaTensor

/// Which optimiser moves the parameters.
public enum OptimizerKind: String, Sendable, CaseIterable {
    case adam, lbfgs, sgd
}

/// Settings of one synthesis run.
public struct SynthesisSettings: Sendable {
    public var steps = 512
    public var learningRate: Float = 0.05
    public var optimizer: OptimizerKind = .adam
    public var transforms: [ImageTransform] = ImageTransform.standard
    public var priors = ImagePriors()
    /// Seed of the parameters' initialisation and of every random transform.
    public var seed: UInt64 = 0
    /// Steps at the start during which a step with no gradient at all (every path through a
    /// dead ReLU) is taken again with Lucid's redirected ReLU gradient: a unit whose input is
    /// negative everywhere still passes gradients that would raise it, so the run cannot stall.
    public var redirectedReLUSteps = 16
    /// Curvature pairs L-BFGS keeps.
    public var lbfgsHistory = 10

    /// Polled before every step; when it answers true, the run stops with `CancellationError`.
    public var shouldStop: (@Sendable () -> Bool)?

    public init() {}
}

/// One step's report.
public struct SynthesisProgress: Sendable {
    public let step: Int
    public let steps: Int
    /// The objective's value at this step (before the update).
    public let objective: Float
}

/// What a run produced.
public struct SynthesisResult {
    /// [B, C, H, W] in 0...1.
    public let image: Tensor
    /// The objective at each step.
    public let history: [Float]
    /// Steps whose gradient was not finite and were skipped (0 in a healthy run).
    public let skippedSteps: Int
    /// Steps taken with the redirected ReLU gradient (the objective started at dead ReLUs).
    public var redirectedSteps = 0
    /// Objective evaluations (L-BFGS line searches take more than one per step).
    public var evaluations = 0
    /// Optimisation steps per second (objective evaluations per second for L-BFGS).
    public let stepsPerSecond: Double

    public init(image: Tensor, history: [Float], skippedSteps: Int, stepsPerSecond: Double) {
        (self.image, self.history, self.skippedSteps, self.stepsPerSecond) = (image, history, skippedSteps, stepsPerSecond)
    }
}

/// The one optimisation loop of feature visualisation, DeepDream and inversion: each step
/// renders the parameterisation, applies the random transforms, normalises for the model,
/// runs the model only as deep as the objective reads, and ascends the objective.
public final class Synthesizer {
    public let classifier: ImageClassifier

    public init(_ classifier: ImageClassifier) { self.classifier = classifier }

    public var module: Module { classifier.module }

    /// Whether the model needs its exact input size (a fixed-size graph or a small network that
    /// flattens its features): transformed images are then resized back to it.
    public var needsFixedInputSize: Bool {
        module is ONNXGraph || module is KerasModel || classifier.preprocessing.inputSize < 64
    }

    /// The model's input for images in 0...1 (any size): resized to the input size when fixed,
    /// then (255 x - mean) / std per channel.
    public func modelInput(_ image: Tensor) -> Tensor {
        let p = classifier.preprocessing
        var x = image
        if needsFixedInputSize && (x.shape[2] != p.inputSize || x.shape[3] != p.inputSize) {
            x = x.resized(height: p.inputSize, width: p.inputSize)
        }
        let c = x.shape[1]
        let scale = Tensor(shape: [1, c, 1, 1], values: (0..<c).map { 255 / p.std[min($0, p.std.count - 1)] })
        let shift = Tensor(shape: [1, c, 1, 1], values: (0..<c).map { -p.mean[min($0, p.mean.count - 1)] / p.std[min($0, p.std.count - 1)] })
        return x * scale + shift
    }

    /// Checks that every layer the objective reads exists.
    public func validate(_ objective: Objective) throws {
        for layer in objective.layers where !layer.isEmpty && module.module(at: layer) == nil {
            throw UnknownLayerError(name: layer, in: module)
        }
    }

    /// The objective's value for `image` (no transforms, no gradient).
    public func evaluate(_ objective: Objective, image: Tensor) throws -> Float {
        try validate(objective)
        return try withNoGrad {
            let activations = try module.outputs(of: Array(objective.layers), for: modelInput(image))
            return objective(ObjectiveInputs(activations: activations, image: image)).item
        }
    }

    /// The mean probability of class `index` over `samples` random draws of `transforms`
    /// applied to `image` (seeded): how well a class visualisation holds its class when moved,
    /// scaled and turned, unlike an adversarial pattern of single pixels.
    public func meanProbability(of index: Int, image: Tensor, transforms: [ImageTransform], samples: Int = 16, seed: UInt64 = 0) -> Float {
        var generator = SeededGenerator(seed: seed &+ 0xC1A55)
        var total: Float = 0
        for _ in 0..<samples {
            let x = ImageTransform.apply(transforms, to: image, using: &generator)
            total += withNoGrad { module(modelInput(x)).softmax(axis: 1).slice(axis: 0, 0..<1).scalars[index] }
        }
        return total / Float(samples)
    }

    /// Ascends `objective` over `parameterization` for `settings.steps` steps.
    /// The model's weights stay frozen throughout, so their transforms are made once (``FrozenWeights``).
    public func run(_ objective: Objective, _ parameterization: ImageParameterization, settings: SynthesisSettings,
                    progress: ((SynthesisProgress) -> Void)? = nil) throws -> SynthesisResult {
        try FrozenWeights.run { try ascend(objective, parameterization, settings: settings, progress: progress) }
    }

    private func ascend(_ objective: Objective, _ parameterization: ImageParameterization, settings: SynthesisSettings,
                        progress: ((SynthesisProgress) -> Void)?) throws -> SynthesisResult {
        try validate(objective)
        guard settings.steps > 0 else { throw SynthesisError("--steps \(settings.steps): must be at least 1") }
        guard settings.learningRate.isFinite, settings.learningRate > 0 else {
            throw SynthesisError("--lr \(settings.learningRate): must be a positive number")
        }
        var generator = SeededGenerator(seed: settings.seed &+ 0x5EED)
        let parameters = parameterization.parameters
        let priors = settings.priors
        var history: [Float] = []
        var skipped = 0, redirected = 0

        // Loss = -objective of the transformed image; backward fills the parameters' gradients.
        func lossAndGradient(step: Int, transformGenerator: SeededGenerator) throws -> Float {
            let forward = { () throws -> Tensor in
                var g = transformGenerator
                let image = parameterization.image()
                let x = ImageTransform.apply(settings.transforms, to: image, using: &g)
                let activations = try self.module.outputs(of: Array(objective.layers), for: self.modelInput(x))
                return -objective(ObjectiveInputs(activations: activations, image: image))
            }
            for p in parameters { p.zeroGrad() }
            var loss = try forward()
            loss.backward()
            // Stalled at dead ReLUs (no gradient anywhere): the same step again with Lucid's
            // redirected ReLU gradient, which only this case needs.
            if step < settings.redirectedReLUSteps && parameters.allSatisfy({ $0.grad.map(isZero) ?? true }) {
                for p in parameters { p.zeroGrad() }
                loss = try withRedirectedReLU(forward)
                loss.backward()
                redirected += 1
            }
            return loss.item
        }

        let optimizer: Optimizer? = switch settings.optimizer {
        case .adam: Adam(parameters, learningRate: settings.learningRate)
        case .sgd: SGD(parameters, learningRate: settings.learningRate)
        case .lbfgs: nil
        }
        let start = Date()
        // A deterministic objective (no random transforms, no pixel priors) is one L-BFGS run of
        // `steps` iterations, each line search starting where the last ended.
        if settings.optimizer == .lbfgs && settings.transforms.isEmpty && !priors.needsPixels {
            let lbfgs = LBFGS(parameters, learningRate: settings.learningRate, maxIterations: settings.steps, history: settings.lbfgsHistory)
            let stepGenerator = SeededGenerator(seed: generator.next())
            var error: Error?
            lbfgs.step(onIteration: { iteration, loss in
                history.append(-loss)
                progress?(SynthesisProgress(step: iteration, steps: settings.steps, objective: -loss))
            }) {
                do { return try lossAndGradient(step: settings.steps, transformGenerator: stepGenerator) } catch let e { error = e; return .nan }
            }
            if let error { throw error }
            let seconds = Date().timeIntervalSince(start)
            var result = SynthesisResult(image: withNoGrad { parameterization.image() }.detached(), history: history, skippedSteps: 0,
                                         stepsPerSecond: Double(lbfgs.evaluations) / max(seconds, 1e-9))
            result.evaluations = lbfgs.evaluations
            return result
        }
        let lbfgs = settings.optimizer == .lbfgs ? LBFGS(parameters, learningRate: settings.learningRate, maxIterations: 1,
                                                                  history: settings.lbfgsHistory) : nil
        for step in 0..<settings.steps {
            if let shouldStop = settings.shouldStop, shouldStop() { throw CancellationError() }
            let stepGenerator = SeededGenerator(seed: generator.next())     // the step's transforms, replayed by L-BFGS
            var loss: Float
            if let lbfgs {
                var error: Error?
                var first: Float = .nan
                lbfgs.step {
                    do {
                        let l = try lossAndGradient(step: step, transformGenerator: stepGenerator)
                        if first.isNaN { first = l }
                        return l
                    } catch let e { error = e; return .nan }
                }
                if let error { throw error }
                loss = first
                if !loss.isFinite { skipped += 1 }            // L-BFGS does not move on a non-finite loss
            } else {
                loss = try lossAndGradient(step: step, transformGenerator: stepGenerator)
                if let sigma = priors.gradientBlurSigma {
                    for p in parameters where p.rank == 4 { p.grad = p.grad?.gaussianBlurred(sigma: sigma) }
                }
                if loss.isFinite && parameters.allSatisfy({ $0.grad.map(isFinite) ?? true }) {
                    optimizer!.step()
                } else {
                    skipped += 1
                }
            }
            applyPixelPriors(priors, step: step, to: parameterization)
            history.append(-loss)
            progress?(SynthesisProgress(step: step + 1, steps: settings.steps, objective: -loss))
        }
        let seconds = Date().timeIntervalSince(start)
        let image = withNoGrad { parameterization.image() }.detached()
        let evaluations = lbfgs.map { Double($0.evaluations) } ?? Double(settings.steps)
        var result = SynthesisResult(image: image, history: history, skippedSteps: skipped, stepsPerSecond: evaluations / max(seconds, 1e-9))
        result.redirectedSteps = redirected
        result.evaluations = Int(evaluations)
        return result
    }

    /// Blur, bilateral filter and decay, on the pixels of a pixel parameterisation.
    private func applyPixelPriors(_ priors: ImagePriors, step: Int, to parameterization: ImageParameterization) {
        guard priors.needsPixels, let pixels = parameterization as? PixelImage else { return }
        var raw = pixels.raw.detached()
        if let decay = priors.decay {
            let middle: Float = pixels.range == .sigmoid ? 0 : 0.5
            raw = withNoGrad { (raw - middle) * (1 - decay) + middle }
        }
        if let k = priors.blurEvery, (step + 1) % k == 0 { raw = withNoGrad { raw.gaussianBlurred(sigma: priors.blurSigma) } }
        if let k = priors.bilateralEvery, (step + 1) % k == 0 {
            raw = BilateralFilter.apply(raw, sigmaSpace: priors.bilateralSigmaSpace, sigmaRange: priors.bilateralSigmaRange)
        }
        if pixels.range == .clip { raw = clampedToUnit(raw) }
        if raw.storage !== pixels.raw.storage { pixels.raw.buffer.baseAddress!.update(from: raw.storage.pointer, count: raw.count) }
    }
}

private func isZero(_ t: Tensor) -> Bool {
    let p = t.storage.pointer
    for i in 0..<t.count where p[i] != 0 { return false }
    return true
}

private func isFinite(_ t: Tensor) -> Bool {
    let p = t.storage.pointer
    for i in 0..<t.count where !p[i].isFinite { return false }
    return true
}

/// Runs `body` with Lucid's redirected ReLU gradient: where the ReLU's input is negative (or
/// above 6 for ReLU6) the gradient still passes when it would move the input back into the
/// active range, if the usual gradient of that ReLU is zero everywhere.
func withRedirectedReLU<T>(_ body: () throws -> T) rethrows -> T {
    func rule(upper: Float) -> BackwardRule {
        return { g, node, _ in
            let x = node.inputs[0]
            let (px, pg) = (x.storage.pointer, g.storage.pointer)
            var anyUsual = false
            for i in 0..<x.count where px[i] > 0 && px[i] < upper && pg[i] != 0 { anyUsual = true; break }
            let redirected = Tensor(overwriting: x.shape) { out in
                for i in 0..<out.count {
                    let v = px[i], d = pg[i]
                    let active = v > 0 && v < upper
                    // Descent moves x by -d: d < 0 raises a negative input, d > 0 lowers a saturated one.
                    out[i] = active || (!anyUsual && ((v <= 0 && d < 0) || (v >= upper && d > 0))) ? d : 0
                }
            }
            return [redirected]
        }
    }
    return try withBackwardRule(for: "relu", rule(upper: .infinity)) {
        try withBackwardRule(for: "relu6", rule(upper: 6), body)
    }
}

import Foundation
import Fovea
import FoveaTensor

/// DeepDream (Mordvintsev et al. 2015): gradient ascent on a photo for an objective (by
/// default a layer's mean squared activation), octave by octave from coarse to fine. Each step
/// rolls the image by a random jitter, moves it by lr g / mean|g| and clips it to 0...1; the
/// detail added at one octave is carried, upsampled, into the next.
public struct DeepDream {
    public var octaves = 4
    public var octaveScale: Float = 1.4
    public var stepsPerOctave = 20
    public var learningRate: Float = 0.01
    public var jitter = 16
    public var seed: UInt64 = 0

    public init() {}

    /// `image`: [1, C, H, W] in 0...1. Returns the dreamed image, same shape.
    public func run(_ objective: Objective, on image: Tensor, with synthesizer: Synthesizer,
                    progress: ((SynthesisProgress) -> Void)? = nil) throws -> Tensor {
        try FrozenWeights.run { try dream(objective, on: image, with: synthesizer, progress: progress) }
    }

    private func dream(_ objective: Objective, on image: Tensor, with synthesizer: Synthesizer,
                       progress: ((SynthesisProgress) -> Void)?) throws -> Tensor {
        try synthesizer.validate(objective)
        guard octaves >= 1 else { throw SynthesisError("--octaves \(octaves): must be at least 1") }
        guard octaveScale.isFinite, octaveScale >= 1 else { throw SynthesisError("--octave-scale \(octaveScale): must be at least 1") }
        guard stepsPerOctave > 0 else { throw SynthesisError("--steps \(stepsPerOctave): must be at least 1") }
        guard learningRate.isFinite, learningRate > 0 else { throw SynthesisError("--lr \(learningRate): must be a positive number") }
        var generator = SeededGenerator(seed: seed &+ 0xD4EA)
        // The photo at each octave, smallest last (no side below 16 pixels).
        var pyramid = [image.detached()]
        for _ in 1..<octaves {
            let last = pyramid.last!
            let (h, w) = (Int(Float(last.shape[2]) / octaveScale), Int(Float(last.shape[3]) / octaveScale))
            guard min(h, w) >= 16 else { break }
            pyramid.append(withNoGrad { last.resized(height: h, width: w) })
        }
        var detail = withNoGrad { pyramid.last! * 0 }
        var dreamed = image
        let total = pyramid.count * stepsPerOctave
        var done = 0
        for base in pyramid.reversed() {
            if detail.shape != base.shape { detail = withNoGrad { detail.resized(height: base.shape[2], width: base.shape[3]) } }
            var x = withNoGrad { base + detail }.detached()
            for _ in 0..<stepsPerOctave {
                let (dy, dx) = (Int.random(in: -jitter...jitter, using: &generator), Int.random(in: -jitter...jitter, using: &generator))
                let shifted = x.rolled(dy: dy, dx: dx).detached()
                shifted.requiresGrad = true
                let activations = try synthesizer.module.outputs(of: Array(objective.layers), for: synthesizer.modelInput(shifted))
                let value = objective(ObjectiveInputs(activations: activations, image: shifted))
                value.backward()
                let g = shifted.grad ?? Tensor(zeros: shifted.shape)
                let meanAbs = g.scalars.reduce(0) { $0 + abs($1) } / Float(g.count)
                x = withNoGrad { (shifted + g * (learningRate / (meanAbs + 1e-8))).rolled(dy: -dy, dx: -dx) }
                x = clampedToUnit(x)
                done += 1
                progress?(SynthesisProgress(step: done, steps: total, objective: value.item))
            }
            detail = withNoGrad { x - base }
            dreamed = x
        }
        return dreamed
    }
}

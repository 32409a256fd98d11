import Foundation
import Fovea
import FoveaIO
import FoveaNN
import FoveaSynthesis
import FoveaTensor

/// Where a style transfer's optimisation starts.
public enum StyleStart: String, Sendable, CaseIterable {
    case content, noise, style
}

/// Gatys, Ecker & Bethge (2016) style transfer settings.
public struct StyleTransferSettings {
    /// The layer whose features the result shares with the content photo (Caffe's conv4_2, after its in-place ReLU).
    public var contentLayer = "relu4_2"
    public var styleLayers = StyleLayers.gatys
    /// Style weight alpha in L = contentWeight L_content + alpha L_style.
    public var alpha: Float = 1e3
    public var contentWeight: Float = 1
    public var start = StyleStart.content
    /// Luminance-only transfer: the result keeps the content photo's colours.
    public var preserveColor = false
    /// The style image's longer side relative to the result's (1: the same size).
    public var styleScale: Float = 1
    /// The result's longer side at each stage, coarse to fine (each stage starts from the last, upsampled).
    public var sizes = [512]
    public var transform = FeatureTransform.none
    /// Optimisation per stage: L-BFGS, lr 1, no image transforms.
    public var synthesis: SynthesisSettings = {
        var s = SynthesisSettings()
        s.steps = 300
        s.optimizer = .lbfgs
        s.learningRate = 1
        s.transforms = []
        s.redirectedReLUSteps = 0
        s.lbfgsHistory = 20
        return s
    }()

    public init() {}
}

/// The outcome of a style transfer.
public struct StyleTransferResult {
    /// [1, 3, H, W] in 0...1 (clipped).
    public let image: Tensor
    /// Final loss and its parts (weighted as in the objective: contentWeight L_c, alpha L_s).
    public let loss: Float, contentLoss: Float, styleLoss: Float
    public let evaluations: Int
    public let seconds: Double
}

/// Progress of a style transfer: the stage, the step and both losses.
public struct StyleProgress {
    public let stage: Int, stages: Int, size: Int
    public let step: Int, steps: Int
    public let contentLoss: Float, styleLoss: Float
}

/// Neural style transfer (Gatys et al. 2016): min_x contentWeight 1/2 |F(x) - F(c)|^2 at the
/// content layer + alpha sum_l w_l E_l(x, s) over the style layers, by L-BFGS on the pixels.
public enum StyleTransfer {
    public static func run(content: Image, styles: [(image: Image, weight: Float)], settings: StyleTransferSettings,
                           with synthesizer: Synthesizer, progress: ((StyleProgress) -> Void)? = nil) throws -> StyleTransferResult {
        guard !settings.sizes.isEmpty, settings.sizes.allSatisfy({ (16...8192).contains($0) }) else {
            throw FoveaError("--size \(settings.sizes.map(String.init).joined(separator: ",")): sizes must be 16 to 8192 pixels")
        }
        guard settings.alpha.isFinite, settings.alpha >= 0 else { throw FoveaError("--alpha \(settings.alpha): must be a non-negative number") }
        guard settings.styleScale.isFinite, settings.styleScale > 0, settings.styleScale <= 8 else {
            throw FoveaError("--style-scale \(settings.styleScale): must be in (0, 8]")
        }
        let layers = settings.styleLayers.names + [settings.contentLayer]
        for layer in layers where synthesizer.module.module(at: layer) == nil {
            throw UnknownLayerError(name: layer, in: synthesizer.module)
        }
        var previous: Tensor?
        var (loss, contentPart, stylePart): (Float, Float, Float) = (.nan, .nan, .nan)
        var evaluations = 0
        let start = Date()
        for (stage, size) in settings.sizes.enumerated() {
            let originalContent = StyleImages.tensor(of: content, longSide: size)
            let styleSide = max(16, Int((Float(size) * settings.styleScale).rounded()))
            var styleTensors = styles.map { (StyleImages.tensor(of: $0.image, longSide: styleSide), $0.weight) }
            var contentTensor = originalContent
            if settings.preserveColor {
                contentTensor = StyleImages.luminance(originalContent)
                styleTensors = styleTensors.map { (StyleImages.luminance($0.0, matching: originalContent), $0.1) }
            }
            let targets = try GramTargets(styles: styleTensors, layers: settings.styleLayers, transform: settings.transform, with: synthesizer)
            let contentTarget = try withNoGrad {
                settings.transform(try synthesizer.module.outputs(of: [settings.contentLayer], for: synthesizer.modelInput(contentTensor))[settings.contentLayer]!)
            }.detached()

            let (h, w) = (contentTensor.shape[2], contentTensor.shape[3])
            let initial: Tensor
            if let previous {
                initial = withNoGrad { previous.resized(height: h, width: w) }
            } else {
                switch settings.start {
                case .content: initial = contentTensor
                case .style: initial = withNoGrad { styleTensors[0].0.resized(height: h, width: w) }
                case .noise:
                    var g = SeededGenerator(seed: settings.synthesis.seed)
                    initial = Tensor.normal([1, 3, h, w], mean: 0.5, std: 0.2, using: &g)
                }
            }
            let parts = LossParts()
            let (alpha, beta) = (settings.alpha, settings.contentWeight)
            let objective = Objective(name: "-(content + alpha style)", layers: Set(layers)) { inputs in
                let c = contentLoss(settings.transform(inputs.activations[settings.contentLayer]!), contentTarget) * beta
                let s = targets.loss(inputs.activations) * alpha
                parts.content = c.item
                parts.style = s.item
                return -(c + s)
            }
            let pixels = PixelImage(image: initial, range: .unbounded)
            let result = try synthesizer.run(objective, pixels, settings: settings.synthesis) { p in
                progress?(StyleProgress(stage: stage + 1, stages: settings.sizes.count, size: size, step: p.step, steps: p.steps,
                                        contentLoss: parts.content, styleLoss: parts.style))
            }
            evaluations += result.evaluations
            previous = result.image
            // The final loss of the result itself (the last step's loss was that of the point before it).
            _ = try synthesizer.evaluate(objective, image: result.image)
            (contentPart, stylePart) = (parts.content, parts.style)
            loss = contentPart + stylePart
        }
        var image = clampedToUnit(previous!)
        if settings.preserveColor {
            let content = StyleImages.tensor(of: content, longSide: settings.sizes.last!)
            image = clampedToUnit(StyleImages.recolored(image, colorOf: content))
        }
        return StyleTransferResult(image: image, loss: loss, contentLoss: contentPart, styleLoss: stylePart,
                                   evaluations: evaluations, seconds: Date().timeIntervalSince(start))
    }
}

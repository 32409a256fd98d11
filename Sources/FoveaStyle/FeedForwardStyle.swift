import Foundation
import Fovea
import FoveaModels
import FoveaOptim
import FoveaSynthesis
import FoveaTensor

/// Perceptual losses (Johnson, Alahi & Fei-Fei 2016) for a batch of outputs y and inputs x:
/// contentWeight mean((F(y) - F(x))^2) at the content layer + styleWeight sum_l mean((G~_l(y) -
/// G~_l(s))^2), G~ = F F^T / (C H W), against one style image s.
public struct PerceptualLoss {
    public var contentLayer = "relu2_2"
    public var styleLayers = StyleLayers.johnson
    public var contentWeight: Float = 1
    public var styleWeight: Float = 1e3
    let styleGrams: [String: Tensor]
    let backbone: Synthesizer

    /// The style's normalised Gram matrices [1, C, C] at `styleLayers`, of `style` (0...1).
    public init(style: Tensor, backbone: Synthesizer, contentWeight: Float, styleWeight: Float, styleLayers: StyleLayers = .johnson,
                contentLayer: String = "relu2_2") throws {
        self.backbone = backbone
        self.contentWeight = contentWeight
        self.styleWeight = styleWeight
        self.styleLayers = styleLayers
        self.contentLayer = contentLayer
        let features = try withNoGrad { try backbone.module.outputs(of: styleLayers.names, for: backbone.modelInput(style)) }
        styleGrams = features.mapValues { f in withNoGrad { Self.normalizedGram(f) }.detached() }
    }

    static func normalizedGram(_ f: Tensor) -> Tensor {
        f.gramMatrices() / Float(f.shape[1] * f.shape[2] * f.shape[3])
    }

    /// (content, style) losses of outputs `y` for inputs `x`, both [B, 3, H, W] in 0...1 scale; recorded for backward.
    public func callAsFunction(output y: Tensor, input x: Tensor) throws -> (content: Tensor, style: Tensor) {
        let layers = styleLayers.names + [contentLayer]
        let target = try withNoGrad { try backbone.module.outputs(of: [contentLayer], for: backbone.modelInput(x))[contentLayer]! }.detached()
        let features = try backbone.module.outputs(of: layers, for: backbone.modelInput(y))
        let content = (features[contentLayer]! - target).pow(2).mean() * contentWeight
        var style: Tensor?
        for (layer, weight) in zip(styleLayers.names, styleLayers.weights) {
            let g = Self.normalizedGram(features[layer]!)
            let term = (g - styleGrams[layer]!).pow(2).mean() * (styleWeight * weight * Float(styleLayers.names.count))
            style = style.map { $0 + term } ?? term
        }
        return (content, style!)
    }
}

/// Johnson et al.'s feed-forward style transfer: training a ``TransformerNet`` for one style and
/// running it on any image.
public enum FeedForwardStyle {
    /// One Adam step on a batch of content crops [B, 3, H, W] in 0...1; returns the two losses.
    public static func trainingStep(_ net: TransformerNet, batch: Tensor, loss: PerceptualLoss, optimizer: Adam) throws -> (content: Float, style: Float) {
        optimizer.zeroGrad()
        let y = net(batch * 255) / 255
        let (content, style) = try loss(output: y, input: batch)
        (content + style).backward()
        optimizer.step()
        return (content.item, style.item)
    }

    /// The stylised image [1, 3, H, W] in 0...1 of `image` (0...1, any size): reflection-padded to a
    /// multiple of 4 so the two stride-2 layers and the two upsamplings give the size back, then cropped.
    public static func stylize(_ image: Tensor, with net: TransformerNet) -> Tensor {
        let (h, w) = (image.shape[2], image.shape[3])
        let (ph, pw) = ((4 - h % 4) % 4, (4 - w % 4) % 4)
        return withNoGrad {
            var x = image * 255
            if ph + pw > 0 { x = x.padded(top: 0, bottom: ph, left: 0, right: pw, mode: h > ph && w > pw ? .reflect : .zero) }
            let y = net(x) / 255
            return clampedToUnit(y.slice(axis: 2, 0..<h).slice(axis: 3, 0..<w))
        }
    }
}

import Foundation
import Fovea
import FoveaModels
import FoveaOptim
import FoveaSynthesis
import FoveaTensor

/// Adaptive instance normalisation: sigma(y) (x - mu(x)) / sigma(x) + mu(y), per image and channel
/// of [B, C, H, W] features (Huang & Belongie 2017).
public func adaptiveInstanceNorm(content x: Tensor, style y: Tensor) -> Tensor {
    let (mx, sx) = x.channelMoments(), (my, sy) = y.channelMoments()
    return (x - mx) / sx * sy + my
}

/// Arbitrary style transfer with AdaIN: the encoder (the backbone up to relu4_1), AdaIN of the
/// content's features to the style's statistics, and a trained ``AdaINDecoder``.
public enum AdaINStyle {
    public static let encoderLayer = "relu4_1"

    /// Training: content loss |f(g(t)) - t|^2 (mean) at relu4_1 plus styleWeight times the
    /// mean/std loss sum_l |mu(phi_l(g(t))) - mu(phi_l(s))|^2 + |sigma(..) - sigma(..)|^2 (means)
    /// over relu1_1 ... relu4_1, t = AdaIN(f(c), f(s)). One Adam step; returns the two losses.
    public static func trainingStep(_ decoder: AdaINDecoder, content: Tensor, style: Tensor, backbone: Synthesizer,
                                    styleWeight: Float, optimizer: Adam) throws -> (content: Float, style: Float) {
        let layers = StyleLayers.adain.names
        let (fc, fs) = try withNoGrad {
            (try backbone.module.outputs(of: [encoderLayer], for: backbone.modelInput(content))[encoderLayer]!,
             try backbone.module.outputs(of: layers, for: backbone.modelInput(style)))
        }
        let t = withNoGrad { adaptiveInstanceNorm(content: fc, style: fs[encoderLayer]!) }.detached()
        optimizer.zeroGrad()
        let g = decoder(t)
        let fg = try backbone.module.outputs(of: layers, for: backbone.modelInput(g))
        let contentLoss = (fg[encoderLayer]! - t).pow(2).mean()
        var styleLoss: Tensor?
        for layer in layers {
            let (mg, sg) = fg[layer]!.channelMoments(), (ms, ss) = fs[layer]!.channelMoments()
            let term = (mg - ms.detached()).pow(2).mean() + (sg - ss.detached()).pow(2).mean()
            styleLoss = styleLoss.map { $0 + term } ?? term
        }
        let style = styleLoss! * styleWeight
        (contentLoss + style).backward()
        optimizer.step()
        return (contentLoss.item, style.item)
    }

    /// The stylised image [1, 3, H, W] in 0...1: t = sum_k w_k AdaIN(f(c), f(s_k)) (weights
    /// normalised), blended alpha t + (1 - alpha) f(c), decoded. Sizes are padded to a multiple of 8.
    public static func stylize(content: Tensor, styles: [(image: Tensor, weight: Float)], alpha: Float,
                               decoder: AdaINDecoder, backbone: Synthesizer) throws -> Tensor {
        let (h, w) = (content.shape[2], content.shape[3])
        let (ph, pw) = ((8 - h % 8) % 8, (8 - w % 8) % 8)
        let padded = ph + pw > 0 ? content.padded(top: 0, bottom: ph, left: 0, right: pw, mode: h > ph && w > pw ? .reflect : .zero) : content
        let total = styles.reduce(0) { $0 + $1.weight }
        return try withNoGrad {
            let fc = try backbone.module.outputs(of: [encoderLayer], for: backbone.modelInput(padded))[encoderLayer]!
            var t: Tensor?
            for (style, weight) in styles where weight > 0 {
                let fs = try backbone.module.outputs(of: [encoderLayer], for: backbone.modelInput(style))[encoderLayer]!
                let part = adaptiveInstanceNorm(content: fc, style: fs) * (weight / total)
                t = t.map { $0 + part } ?? part
            }
            let blended = t! * alpha + fc * (1 - alpha)
            let g = decoder(blended)
            return clampedToUnit(g.slice(axis: 2, 0..<h).slice(axis: 3, 0..<w))
        }
    }
}

import Foundation
import Fovea
import FoveaNN
import FoveaSynthesis
import FoveaTensor

/// Texture synthesis with Gram matrices (Gatys, Ecker & Bethge 2015): from noise, the image whose
/// Gram matrices at the chosen layers match a texture photo's, min_x sum_l w_l E_l.
public enum TextureSynthesis {
    /// The lecture's layer sweep: the texture matched up to conv1_1, pool1, pool2, pool3 and pool4
    /// (Caffe names; the ReLU'd conv1_1 is relu1_1 here), each set including the ones before.
    public static let sweep: [(label: String, layers: [String])] = {
        let all = ["relu1_1", "pool1", "pool2", "pool3", "pool4"]
        let labels = ["conv1_1", "pool1", "pool2", "pool3", "pool4"]
        return labels.indices.map { (labels[$0], Array(all[0...$0])) }
    }()

    /// The objective to maximise: minus the style loss against `targets`.
    public static func objective(_ targets: GramTargets, parts: LossParts? = nil) -> Objective {
        Objective(name: "-style loss (\(targets.layers.names.joined(separator: ",")))", layers: Set(targets.layers.names)) { inputs in
            let loss = targets.loss(inputs.activations)
            parts?.style = loss.item
            return -loss
        }
    }

    /// A texture of `height` x `width` from noise (N(0.5, 0.2^2) per pixel, seeded).
    public static func synthesize(_ targets: GramTargets, height: Int, width: Int, settings: SynthesisSettings,
                                  with synthesizer: Synthesizer, progress: ((SynthesisProgress) -> Void)? = nil) throws -> SynthesisResult {
        var generator = SeededGenerator(seed: settings.seed)
        let noise = PixelImage(shape: [1, 3, height, width], std: 0.2, range: .unbounded, generator: &generator)
        return try synthesizer.run(objective(targets), noise, settings: settings, progress: progress)
    }

    /// The style loss between two different random `size` x `size` crops of `style` (seeded): how
    /// far a texture of the same stuff is from the photo's statistics, the bar a synthesis should meet.
    public static func cropBaseline(style: Tensor, size: Int, layers: StyleLayers, with synthesizer: Synthesizer,
                                    seed: UInt64 = 0) throws -> Float {
        let (h, w) = (style.shape[2], style.shape[3])
        guard h >= size, w >= size, h * w > size * size else {
            throw FoveaError("the style image (\(w)x\(h)) must be larger than the \(size)x\(size) crops")
        }
        var generator = SeededGenerator(seed: seed &+ 0xC409)
        func crop() -> (Int, Int) { (Int.random(in: 0...(h - size), using: &generator), Int.random(in: 0...(w - size), using: &generator)) }
        let a = crop()
        var b = crop()
        while b == a { b = crop() }
        func cut(_ at: (Int, Int)) -> Tensor { style.slice(axis: 2, at.0..<(at.0 + size)).slice(axis: 3, at.1..<(at.1 + size)) }
        let targets = try GramTargets(styles: [(cut(a), 1)], layers: layers, with: synthesizer)
        return try withNoGrad {
            targets.loss(try synthesizer.module.outputs(of: layers.names, for: synthesizer.modelInput(cut(b)))).item
        }
    }
}

import Foundation
import Fovea
import FoveaTensor

/// Feature inversion (Mahendran & Vedaldi 2015): the image x* = argmin ||Phi(x) - Phi0||^2 /
/// ||Phi0||^2 + lambda R_TV^beta(x) whose features at a layer match a photo's, found from noise.
public enum FeatureInversion {
    /// The objective to maximise: minus the relative feature error at `layer` against
    /// `target` (the photo's features, constant) minus `tv` times the total variation.
    public static func objective(layer: String, target: Tensor, tv: Float, beta: Float) -> Objective {
        let targetNorm = target.scalars.reduce(0) { $0 + $1 * $1 }
        let match = Objective(name: "-|Phi(x) - Phi0|^2 / |Phi0|^2 (\(layer))", layers: [layer]) { inputs in
            -((inputs.layer(layer) - target).pow(2).sum() / max(targetNorm, 1e-12))
        }
        return tv > 0 ? match - tv * Objective.totalVariation(beta: beta) : match
    }

    /// ||Phi(x) - Phi0||^2 / ||Phi0||^2 at `layer` for an image in 0...1.
    public static func relativeError(of image: Tensor, layer: String, target: Tensor, with synthesizer: Synthesizer) throws -> Float {
        let features = try withNoGrad { try synthesizer.module.outputs(of: [layer], for: synthesizer.modelInput(image))[layer]! }
        let (a, b) = (features.scalars, target.scalars)
        let error = zip(a, b).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        return error / max(b.reduce(0) { $0 + $1 * $1 }, 1e-12)
    }

    /// The photo's features at `layer`, [1, C, H, W].
    public static func features(of image: Tensor, layer: String, with synthesizer: Synthesizer) throws -> Tensor {
        try synthesizer.validate(Objective(name: layer, layers: [layer]) { _ in Tensor(scalar: 0) })
        return try withNoGrad { try synthesizer.module.outputs(of: [layer], for: synthesizer.modelInput(image))[layer]!.detached() }
    }

    /// PSNR in dB of two images in 0...1: 10 log10(1 / mean squared error).
    public static func psnr(_ a: Tensor, _ b: Tensor) -> Float {
        let mse = zip(a.scalars, b.scalars).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Float(a.count)
        return 10 * log10(1 / max(mse, 1e-12))
    }
}

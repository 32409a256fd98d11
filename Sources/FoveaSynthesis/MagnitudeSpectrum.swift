import Foundation
import FoveaIO
import FoveaTensor

/// The average magnitude spectrum of natural images, |rfft2| per colour channel, at a fixed
/// size: MACO's fixed magnitude. Fovea computes it from photographs (`fovea spectrum`) and
/// ships the one made from the set-up's photos as `maco-spectrum.npy` ([3, S, S/2+1], float32).
public struct MagnitudeSpectrum {
    /// [C, S, S/2+1].
    public let values: Tensor

    public init(values: Tensor) {
        precondition(values.rank == 3 && values.shape[2] == values.shape[1] / 2 + 1, "a magnitude spectrum is [C, S, S/2+1], got \(values.shape)")
        self.values = values
    }

    /// The mean magnitude of the ortho-normalised spectra of `images` ([C, S, S] each, 0...1).
    public static func average(of images: [Tensor]) -> MagnitudeSpectrum {
        precondition(!images.isEmpty, "MagnitudeSpectrum.average needs images")
        let shape = images[0].shape
        let half = shape[2] / 2 + 1
        var sum = [Float](repeating: 0, count: shape[0] * shape[1] * half)
        for image in images {
            let spectrum = image.rfft2().scalars                     // [C, S, half, 2]
            for i in sum.indices { sum[i] += (spectrum[2 * i] * spectrum[2 * i] + spectrum[2 * i + 1] * spectrum[2 * i + 1]).squareRoot() }
        }
        return MagnitudeSpectrum(values: Tensor(shape: [shape[0], shape[1], half], values: sum.map { $0 / Float(images.count) }))
    }

    /// The spectrum shipped with Fovea.
    public static func shipped() throws -> MagnitudeSpectrum {
        guard let url = Bundle.module.url(forResource: "maco-spectrum", withExtension: "npy") else {
            throw SynthesisError("maco-spectrum.npy is missing from Fovea's resources")
        }
        return try load(url)
    }

    public static func load(_ url: URL) throws -> MagnitudeSpectrum {
        let t = try NPY.read(url)
        guard t.rank == 3, t.shape[2] == t.shape[1] / 2 + 1 else {
            throw SynthesisError("\(url.path): a magnitude spectrum must be [C, S, S/2+1], got \(t.shape)")
        }
        return MagnitudeSpectrum(values: t)
    }

    /// The spectrum for images of `channels` x `height` x `width`, [1, C, H, W/2+1]: each
    /// frequency reads the stored spectrum at the same frequency (cycles per pixel) with
    /// wrap-around in H, bilinearly, and the magnitude is scaled by sqrt(HW / S^2) (the ortho
    /// spectrum of a larger image of the same statistics grows so). Grayscale takes the mean
    /// of the colour channels.
    public func resampled(channels: Int, height h: Int, width w: Int) -> Tensor {
        let (c, s) = (values.shape[0], values.shape[1])
        let half = s / 2 + 1, outHalf = w / 2 + 1
        let v = values.scalars
        let gain = (Float(h * w) / Float(s * s)).squareRoot()
        func at(_ ch: Int, _ fy: Float, _ fx: Float) -> Float {
            // fy in [-0.5, 0.5), fx in [0, 0.5]: positions in the stored grid.
            let py = (fy < 0 ? fy + 1 : fy) * Float(s), px = min(fx * Float(s), Float(half - 1))
            let y0 = Int(py.rounded(.down)) % s, x0 = Int(px.rounded(.down))
            let (ty, tx) = (py - py.rounded(.down), px - px.rounded(.down))
            let y1 = (y0 + 1) % s, x1 = min(x0 + 1, half - 1)
            func m(_ y: Int, _ x: Int) -> Float { v[(ch * s + y) * half + x] }
            return (m(y0, x0) * (1 - tx) + m(y0, x1) * tx) * (1 - ty) + (m(y1, x0) * (1 - tx) + m(y1, x1) * tx) * ty
        }
        var out = [Float](repeating: 0, count: channels * h * outHalf)
        for ch in 0..<channels {
            for k1 in 0..<h {
                let fy = Float(k1 <= (h - 1) / 2 ? k1 : k1 - h) / Float(h)
                for k2 in 0..<outHalf {
                    let fx = Float(k2) / Float(w)
                    let value = channels == c ? at(ch, fy, fx) : (0..<c).map { at($0, fy, fx) }.reduce(0, +) / Float(c)
                    out[(ch * h + k1) * outHalf + k2] = value * gain
                }
            }
        }
        return Tensor(shape: [1, channels, h, outHalf], values: out)
    }
}

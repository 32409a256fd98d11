import Foundation
import FoveaTensor

/// How the optimised numbers become an image: ``image()`` is [B, C, H, W] in 0...1, recorded
/// for backward into ``parameters``.
public protocol ImageParameterization: AnyObject {
    var parameters: [Tensor] { get }
    var shape: [Int] { get }
    func image() -> Tensor
}

/// How unbounded values are mapped into the valid pixel range 0...1.
public enum ValueRange: String, Sendable, CaseIterable {
    /// 1 / (1 + e^-x) (Lucid's default): smooth, never saturates hard.
    case sigmoid
    /// The values themselves, clipped to 0...1 after every step (the gradient passes unchanged).
    case clip
    /// The values themselves, never clipped while optimising (Gatys style transfer with L-BFGS,
    /// whose curvature pairs a clip would break); clipped when saved.
    case unbounded
}

/// Colour decorrelation (Olah et al. 2017): the optimised channels are mapped to RGB by the
/// square root of ImageNet's colour covariance, so a step in each is a step in an uncorrelated
/// colour direction. Lucid's matrix, divided by its largest column norm.
public enum ColorDecorrelation {
    static let correlationSquareRoot: [Float] = [0.26, 0.09, 0.02,
                                                 0.27, 0.00, -0.05,
                                                 0.27, -0.09, 0.03]
    static let normalized: [Float] = {
        let m = correlationSquareRoot
        var maxNorm: Float = 0
        for j in 0..<3 {
            var sum: Float = 0
            for i in 0..<3 { sum += m[i * 3 + j] * m[i * 3 + j] }
            maxNorm = max(maxNorm, sum.squareRoot())
        }
        return m.map { $0 / maxNorm }
    }()

    /// M^-1, which takes RGB into the decorrelated space (by the adjugate over the determinant).
    static let inverse: [Float] = {
        let m = normalized.map(Double.init)
        func at(_ i: Int, _ j: Int) -> Double { m[((i % 3) + 3) % 3 * 3 + ((j % 3) + 3) % 3] }
        // Cofactor C[i][j] = m[i+1][j+1] m[i+2][j+2] - m[i+1][j+2] m[i+2][j+1]; inverse[j][i] = C[i][j] / det.
        let cofactor = (0..<9).map { k -> Double in
            let (i, j) = (k / 3, k % 3)
            return at(i + 1, j + 1) * at(i + 2, j + 2) - at(i + 1, j + 2) * at(i + 2, j + 1)
        }
        let det = (0..<3).reduce(0.0) { $0 + m[$1] * cofactor[$1] }
        return (0..<9).map { k in Float(cofactor[(k % 3) * 3 + k / 3] / det) }
    }()

    /// rgb[b, i, y, x] = sum_j M[i, j] t[b, j, y, x] for [B, 3, H, W].
    public static func apply(_ t: Tensor) -> Tensor { mix(t, normalized) }

    /// The decorrelated channels of RGB images: M^-1 rgb.
    public static func remove(_ rgb: Tensor) -> Tensor { mix(rgb, inverse) }

    static func mix(_ t: Tensor, _ matrix: [Float]) -> Tensor {
        let (b, h, w) = (t.shape[0], t.shape[2], t.shape[3])
        let m = Tensor(shape: [3, 3], values: matrix)
        let flat = t.permuted([0, 2, 3, 1]).reshaped([b * h * w, 3])         // pixels x channels
        return flat.matmul(m, transposeB: true).reshaped([b, h, w, 3]).permuted([0, 3, 1, 2])
    }
}

extension Tensor {
    /// Maps raw values into 0...1 (see ``ValueRange``); `decorrelate` first mixes 3 channels
    /// through ``ColorDecorrelation``.
    func toValidImage(_ range: ValueRange, decorrelate: Bool) -> Tensor {
        let mixed = decorrelate && shape[1] == 3 ? ColorDecorrelation.apply(self) : self
        switch range {
        case .sigmoid: return mixed.sigmoid()
        case .clip: return mixed.straightThrough(to: clampedToUnit(mixed))
        case .unbounded: return mixed
        }
    }
}

/// min(max(x, 0), 1) elementwise, not recorded.
public func clampedToUnit(_ x: Tensor) -> Tensor {
    let p = x.storage.pointer
    return Tensor(overwriting: x.shape) { out in for i in 0..<out.count { out[i] = min(max(p[i], 0), 1) } }
}

/// Pixels as parameters (the lecture's plain gradient ascent), initialised N(0, std^2) around
/// the range's middle.
public final class PixelImage: ImageParameterization {
    public let raw: Tensor
    public let range: ValueRange
    public let decorrelate: Bool
    public var parameters: [Tensor] { [raw] }
    public var shape: [Int] { raw.shape }

    public init(shape: [Int], std: Float = 0.01, range: ValueRange = .sigmoid, decorrelate: Bool = false,
                generator: inout SeededGenerator) {
        let middle: Float = range == .sigmoid ? 0 : 0.5
        raw = Tensor.normal(shape, mean: middle, std: std, using: &generator)
        raw.requiresGrad = true
        self.range = range
        self.decorrelate = decorrelate
    }

    /// Continues from raw values (an octave's result, resized).
    public init(raw: Tensor, range: ValueRange, decorrelate: Bool) {
        self.raw = raw.detached().copy()
        self.raw.requiresGrad = true
        self.range = range
        self.decorrelate = decorrelate
    }

    /// Starts from an image in 0...1 (DeepDream, or a resized octave).
    public init(image: Tensor, range: ValueRange = .clip) {
        precondition(range != .sigmoid, "PixelImage(image:) starts from pixels, not sigmoid logits")
        raw = image.detached().copy()
        raw.requiresGrad = true
        self.range = range
        self.decorrelate = false
    }

    public func image() -> Tensor { raw.toValidImage(range, decorrelate: decorrelate) }
}

/// Fourier coefficients as parameters (Olah et al. 2017): the image is irfft2 of a half
/// spectrum scaled by 1 / max(f, 1/max(H, W))^decay (f in cycles per pixel), divided by 4,
/// so that low frequencies move fastest; coefficients start N(0, std^2).
public final class FourierImage: ImageParameterization {
    public let spectrum: Tensor            // [B, C, H, W/2+1, 2]
    let scale: Tensor                      // [1, 1, H, W/2+1, 1]
    public let shape: [Int]
    public let range: ValueRange
    public let decorrelate: Bool
    public var parameters: [Tensor] { [spectrum] }

    public init(shape: [Int], decay: Float = 1, std: Float = 0.01, range: ValueRange = .sigmoid, decorrelate: Bool = true,
                generator: inout SeededGenerator) {
        let (h, w) = (shape[2], shape[3])
        self.shape = shape
        spectrum = Tensor.normal([shape[0], shape[1], h, w / 2 + 1, 2], std: std, using: &generator)
        spectrum.requiresGrad = true
        scale = Tensor(shape: [1, 1, h, w / 2 + 1, 1], values: FourierImage.frequencyScale(h: h, w: w, decay: decay))
        self.range = range
        self.decorrelate = decorrelate
    }

    /// 1 / max(f, 1/max(h, w))^decay for each half-spectrum entry, f = sqrt(fy^2 + fx^2) with
    /// NumPy's fftfreq(h) and rfftfreq(w).
    static func frequencyScale(h: Int, w: Int, decay: Float) -> [Float] {
        let floor = 1 / Float(max(h, w))
        return (0..<h).flatMap { k1 -> [Float] in
            let fy = Float(k1 <= (h - 1) / 2 ? k1 : k1 - h) / Float(h)
            return (0...(w / 2)).map { k2 in
                let fx = Float(k2) / Float(w)
                return 1 / Foundation.pow(max((fx * fx + fy * fy).squareRoot(), floor), decay)
            }
        }
    }

    public func image() -> Tensor {
        ((spectrum * scale).irfft2(height: shape[2], width: shape[3]) / 4).toValidImage(range, decorrelate: decorrelate)
    }
}

/// MACO (Fel et al. 2023): only the phase of the spectrum is optimised; its magnitude is fixed
/// to the average magnitude spectrum of natural images in decorrelated colour
/// (``MagnitudeSpectrum``). The image is irfft2(|F| e^{i phase'}) with phase' the phase
/// standardised, standardised per image and channel, recorrelated (3 channels), then mapped to
/// 0...1. Phases start N(0, 1).
public final class MACOImage: ImageParameterization {
    public let phase: Tensor               // [B, C, H, W/2+1]
    let magnitude: Tensor                  // [1, C, H, W/2+1]
    public let shape: [Int]
    public let range: ValueRange
    public var parameters: [Tensor] { [phase] }

    public init(shape: [Int], magnitude spectrum: MagnitudeSpectrum, range: ValueRange = .sigmoid, generator: inout SeededGenerator) {
        self.shape = shape
        let (c, h, w) = (shape[1], shape[2], shape[3])
        phase = Tensor.normal([shape[0], c, h, w / 2 + 1], using: &generator)
        phase.requiresGrad = true
        magnitude = spectrum.resampled(channels: c, height: h, width: w)
        self.range = range
    }

    public func image() -> Tensor {
        let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let half = w / 2 + 1
        let standardPhase = Self.standardized(phase.reshaped([1, phase.count])).reshaped(phase.shape)
        let real = (magnitude * standardPhase.cos()).reshaped([b, c, h, half, 1])
        let imaginary = (magnitude * standardPhase.sin()).reshaped([b, c, h, half, 1])
        let x = Tensor.concat([real, imaginary], axis: 4).irfft2(height: h, width: w)
        let image = Self.standardized(x.reshaped([b * c, h * w])).reshaped([b, c, h, w])
        return image.toValidImage(range, decorrelate: c == 3)
    }

    /// (x - mean) / std along the last axis of [N, M].
    static func standardized(_ x: Tensor) -> Tensor {
        let centred = x - x.mean(axes: [1], keepDims: true)
        return centred / (centred.pow(2).mean(axes: [1], keepDims: true) + 1e-8).sqrt()
    }
}

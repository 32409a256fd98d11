import Foundation
import Fovea
import FoveaIO
import FoveaTensor

/// Loading and colour handling of the images a style technique reads.
public enum StyleImages {
    /// An image as [1, 3, H, W] in 0...1, its longer side resized to `longSide`.
    public static func tensor(of image: Image, longSide: Int?) -> Tensor {
        var rgb = image.rgb()
        if let longSide, max(rgb.width, rgb.height) != longSide {
            let scale = Double(longSide) / Double(max(rgb.width, rgb.height))
            rgb = rgb.resized(width: max(1, Int((Double(rgb.width) * scale).rounded())),
                              height: max(1, Int((Double(rgb.height) * scale).rounded())))
        }
        return rgb.toTensor(scale: 1 / 255)
    }

    /// A [1, 3, H, W] image resized so that its longer side is `longSide` (bilinear, for tensors
    /// that are not 8-bit images: a coarse stage's result).
    public static func resized(_ t: Tensor, longSide: Int) -> Tensor {
        let (h, w) = (t.shape[2], t.shape[3])
        let scale = Double(longSide) / Double(max(h, w))
        return withNoGrad { t.resized(height: max(1, Int((Double(h) * scale).rounded())), width: max(1, Int((Double(w) * scale).rounded()))) }
    }

    /// An image of a 0...1 tensor, clipped.
    public static func image(_ t: Tensor) -> Image { Image(tensor: t, scale: 1 / 255) }

    // YIQ (NTSC): Y = 0.299 R + 0.587 G + 0.114 B carries the luminance, I and Q the colour.
    static let toYIQ: [Float] = [0.299, 0.587, 0.114, 0.596, -0.274, -0.322, 0.211, -0.523, 0.312]
    static let fromYIQ: [Float] = [1, 0.956, 0.621, 1, -0.272, -0.647, 1, -1.106, 1.703]

    static func mix(_ t: Tensor, _ m: [Float]) -> Tensor {
        let plane = t.shape[2] * t.shape[3]
        let p = t.storage.pointer
        return Tensor(overwriting: t.shape) { out in
            for i in 0..<plane {
                let (r, g, b) = (p[i], p[plane + i], p[2 * plane + i])
                for c in 0..<3 { out[c * plane + i] = m[3 * c] * r + m[3 * c + 1] * g + m[3 * c + 2] * b }
            }
        }
    }

    /// The luminance of `t` as a gray RGB image [1, 3, H, W] (Y in each channel), its mean and
    /// standard deviation moved to `reference`'s luminance statistics when given (Gatys et al.
    /// 2016, "Preserving color in neural artistic style transfer": luminance-only transfer).
    public static func luminance(_ t: Tensor, matching reference: Tensor? = nil) -> Tensor {
        let plane = t.shape[2] * t.shape[3]
        var y = Array(mix(t, toYIQ).scalars[0..<plane])
        if let reference {
            let target = Array(mix(reference, toYIQ).scalars[0..<(reference.shape[2] * reference.shape[3])])
            let (m, s) = moments(y), (mt, st) = moments(target)
            y = y.map { ($0 - m) * st / max(s, 1e-6) + mt }
        }
        return Tensor(shape: [1, 3, t.shape[2], t.shape[3]], values: y + y + y)
    }

    /// The luminance of `stylised` (its mean over channels when gray) with the colour (I, Q) of `content`.
    public static func recolored(_ stylised: Tensor, colorOf content: Tensor) -> Tensor {
        let plane = content.shape[2] * content.shape[3]
        let y = mix(stylised, toYIQ).scalars, yiq = mix(content, toYIQ).scalars
        var combined = yiq
        for i in 0..<plane { combined[i] = y[i] }
        return mix(Tensor(shape: content.shape, values: combined), fromYIQ)
    }

    private static func moments(_ v: [Float]) -> (Float, Float) {
        let n = Float(max(v.count, 1))
        let m = v.reduce(0, +) / n
        return (m, (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / n).squareRoot())
    }
}

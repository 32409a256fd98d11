import Foundation
import FoveaTensor

/// The lecture's image priors that act on the pixels between steps (the others are objectives,
/// transforms or parameterisations). Each is off unless set.
public struct ImagePriors: Sendable, Equatable {
    /// Blur the image every k steps (Yosinski et al. 2015), Gaussian of ``blurSigma`` pixels.
    public var blurEvery: Int?
    public var blurSigma: Float = 0.5
    /// Blur the gradient before each step (Oygard 2015), Gaussian of this many pixels.
    public var gradientBlurSigma: Float?
    /// Bilateral-filter the image every k steps (Tyka 2016): edges stay, flat areas smooth.
    public var bilateralEvery: Int?
    public var bilateralSigmaSpace: Float = 1.5
    public var bilateralSigmaRange: Float = 0.1
    /// Decay the pixels towards grey by this fraction each step (Yosinski et al.'s L2 decay).
    public var decay: Float?

    public init() {}

    /// Whether any prior works on the pixels directly (those need a pixel parameterisation).
    public var needsPixels: Bool { blurEvery != nil || gradientBlurSigma != nil || bilateralEvery != nil || decay != nil }
}

enum BilateralFilter {
    /// Each pixel becomes the mean of its (2r+1)^2 neighbours (r = ceil(2 sigma_s)) weighted by
    /// exp(-d^2 / 2 sigma_s^2) exp(-|v - v0|^2 / 2 sigma_r^2), the colour distance summed over
    /// channels. [B, C, H, W], edges clamped.
    static func apply(_ x: Tensor, sigmaSpace: Float, sigmaRange: Float) -> Tensor {
        let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let r = max(1, Int((2 * sigmaSpace).rounded(.up)))
        let p = x.storage.pointer
        let plane = h * w
        return Tensor(overwriting: x.shape) { out in
            Parallel.forEach(b * h) { rows in
                var sums = [Float](repeating: 0, count: c)
                for row in rows {
                    let (n, y) = (row / h, row % h)
                    let base = n * c * plane
                    for xo in 0..<w {
                        var total: Float = 0
                        for k in 0..<c { sums[k] = 0 }
                        for dy in -r...r {
                            let yy = min(max(y + dy, 0), h - 1)
                            for dx in -r...r {
                                let xx = min(max(xo + dx, 0), w - 1)
                                var distance: Float = 0
                                for k in 0..<c {
                                    let d = p[base + k * plane + yy * w + xx] - p[base + k * plane + y * w + xo]
                                    distance += d * d
                                }
                                let weight = Foundation.exp(-Float(dx * dx + dy * dy) / (2 * sigmaSpace * sigmaSpace)
                                                            - distance / (2 * sigmaRange * sigmaRange))
                                total += weight
                                for k in 0..<c { sums[k] += weight * p[base + k * plane + yy * w + xx] }
                            }
                        }
                        for k in 0..<c { out[base + k * plane + y * w + xo] = sums[k] / total }
                    }
                }
            }
        }
    }
}

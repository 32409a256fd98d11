import Foundation
import FoveaTensor

/// Resampling filters of ``Image/resized(width:height:filter:)``, with PIL's semantics.
public enum ResampleFilter: Sendable {
    /// PIL NEAREST: source index = trunc((i + 0.5) * in / out), no antialiasing.
    case nearest
    /// PIL BILINEAR: triangle filter, support 1 (widened when downscaling).
    case bilinear
    /// PIL BICUBIC: cubic convolution with a = -0.5, support 2 (widened when downscaling).
    case bicubic

    /// Filter radius in input pixels at scale 1.
    var support: Double {
        switch self {
        case .nearest: return 0.5
        case .bilinear: return 1
        case .bicubic: return 2
        }
    }

    /// Kernel value k(x).
    /// bilinear: 1 - |x| for |x| < 1.
    /// bicubic (a = -0.5): ((a + 2)|x| - (a + 3))|x|^2 + 1 for |x| < 1,
    ///                     (((|x| - 5)|x| + 8)|x| - 4) a for 1 <= |x| < 2.
    func weight(_ x: Double) -> Double {
        let x = abs(x)
        switch self {
        case .nearest: return x <= 0.5 ? 1 : 0
        case .bilinear: return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

/// Fixed-point convolution weights for one axis, as PIL computes them (Resample.c):
/// scale = in / out, fs = max(scale, 1), support = radius * fs; output i has centre
/// c = (i + 0.5) * scale and taps j in [trunc(c - support + 0.5), trunc(c + support + 0.5))
/// clipped to the input, with weight k((j - c + 0.5) / fs) normalised to sum 1, then
/// stored as round-half-away(w * 2^22).
struct AxisWeights {
    static let precisionBits = 22
    let start: [Int]       // first input index for each output index
    let count: [Int]       // number of taps for each output index
    let taps: Int          // row length in `weights`
    let weights: [Int32]   // [outSize * taps], unused taps are 0

    init(inSize: Int, outSize: Int, filter: ResampleFilter) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let taps = Int(support.rounded(.up)) * 2 + 1
        let inverse = 1.0 / filterScale
        var start = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Int32](repeating: 0, count: outSize * taps)
        var k = [Double](repeating: 0, count: taps)
        let one = Double(1 << AxisWeights.precisionBits)
        for i in 0..<outSize {
            let centre = (Double(i) + 0.5) * scale
            let lo = max(Int(centre - support + 0.5), 0)        // Int() truncates like C's (int)
            let hi = min(Int(centre + support + 0.5), inSize)
            let n = max(hi - lo, 0)
            var total = 0.0
            for t in 0..<n {
                k[t] = filter.weight((Double(t + lo) - centre + 0.5) * inverse)
                total += k[t]
            }
            for t in 0..<n {
                let w = total != 0 ? k[t] / total : k[t]
                weights[i * taps + t] = Int32(w < 0 ? -0.5 + w * one : 0.5 + w * one)
            }
            start[i] = lo
            count[i] = n
        }
        (self.start, self.count, self.taps, self.weights) = (start, count, taps, weights)
    }
}

extension Image {
    /// The `width` x `height` region whose top-left corner is (x, y). Parts outside the image
    /// are filled with zeros (like PIL's `crop`).
    public func cropped(x: Int, y: Int, width: Int, height: Int) -> Image {
        precondition(width >= 0 && height >= 0, "crop size must be non-negative, got \(width)x\(height)")
        var out = [UInt8](repeating: 0, count: width * height * channels)
        let x0 = max(x, 0), x1 = min(x + width, self.width)
        guard x1 > x0 else { return Image(width: width, height: height, channels: channels, pixels: out) }
        for row in max(y, 0)..<max(min(y + height, self.height), max(y, 0)) {
            let src = (row * self.width + x0) * channels
            let dst = ((row - y) * width + (x0 - x)) * channels
            out.replaceSubrange(dst..<(dst + (x1 - x0) * channels), with: pixels[src..<(src + (x1 - x0) * channels)])
        }
        return Image(width: width, height: height, channels: channels, pixels: out)
    }

    /// torchvision's `CenterCrop`: top = round((H - height) / 2), left = round((W - width) / 2)
    /// with Python's round-half-to-even.
    public func centerCropped(width: Int, height: Int) -> Image {
        let top = (Double(self.height - height) / 2).rounded(.toNearestOrEven)
        let left = (Double(self.width - width) / 2).rounded(.toNearestOrEven)
        return cropped(x: Int(left), y: Int(top), width: width, height: height)
    }

    /// Resizes exactly like PIL's `Image.resize((width, height), filter)` on 8-bit data:
    /// separable passes (horizontal, then vertical, each skipped when that side is unchanged),
    /// antialiased when shrinking, 22-bit fixed-point weights, each pass rounding
    /// (sum + 2^21) >> 22 and clamping to 0...255. RGBA is premultiplied by alpha around the
    /// passes as PIL does (p' = (p a + 128 + ((p a + 128) >> 8)) >> 8; back: min(255, 255 p' / a)).
    /// For figures: a small image (a 28 x 28 Fashion-MNIST crop) enlarged by the smallest whole
    /// factor that makes its short side at least `minimum`, with nearest neighbour so its pixels
    /// stay visible; larger images are returned as they are.
    public func enlargedForDisplay(minimum: Int = 224) -> Image {
        let side = Swift.min(width, height)
        guard side > 0, side < minimum else { return self }
        let factor = (minimum + side - 1) / side
        return resized(width: width * factor, height: height * factor, filter: .nearest)
    }

    public func resized(width: Int, height: Int, filter: ResampleFilter = .bicubic) -> Image {
        precondition(width > 0 && height > 0, "resize target must be positive, got \(width)x\(height)")
        precondition(self.width > 0 && self.height > 0, "cannot resize an empty image")
        if width == self.width && height == self.height { return self }
        if filter == .nearest { return resizedNearest(width: width, height: height) }
        let premultiply = channels == 4
        var data = premultiply ? premultiplied() : pixels
        var (w, h) = (self.width, self.height)
        if width != w {
            data = Image.pass(data, lines: h, inLength: w, outLength: width, lineStride: w * channels,
                              step: channels, outLineStride: width * channels, outStep: channels,
                              channels: channels, weights: AxisWeights(inSize: w, outSize: width, filter: filter))
            w = width
        }
        if height != h {
            data = Image.pass(data, lines: w, inLength: h, outLength: height, lineStride: channels,
                              step: w * channels, outLineStride: channels, outStep: w * channels,
                              channels: channels, weights: AxisWeights(inSize: h, outSize: height, filter: filter))
            h = height
        }
        var out = Image(width: w, height: h, channels: channels, pixels: data)
        if premultiply { out.unpremultiply() }
        return out
    }

    /// One 1-D resampling pass over `lines` independent lines. Input sample `j` of line `l`,
    /// channel `c` is at `l * lineStride + j * step + c`; output likewise with the out strides.
    private static func pass(_ input: [UInt8], lines: Int, inLength: Int, outLength: Int,
                             lineStride: Int, step: Int, outLineStride: Int, outStep: Int,
                             channels: Int, weights: AxisWeights) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: lines * outLength * channels)
        let half = 1 << (AxisWeights.precisionBits - 1)
        input.withUnsafeBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                weights.weights.withUnsafeBufferPointer { kk in
                    for line in 0..<lines {
                        for i in 0..<outLength {
                            let first = weights.start[i], n = weights.count[i], k = i * weights.taps
                            for c in 0..<channels {
                                var sum = half
                                var at = line * lineStride + first * step + c
                                for t in 0..<n {
                                    sum += Int(src[at]) * Int(kk[k + t])
                                    at += step
                                }
                                // clip8: arithmetic shift, then clamp to 0...255
                                let v = sum >> AxisWeights.precisionBits
                                dst[line * outLineStride + i * outStep + c] = UInt8(min(max(v, 0), 255))
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    /// PIL's nearest scaling (ImagingScaleAffine): the source coordinate starts at s / 2 and
    /// advances by s = in / out per output pixel (accumulated in Double), then truncates.
    private func resizedNearest(width: Int, height: Int) -> Image {
        func table(_ inSize: Int, _ outSize: Int) -> [Int] {
            let step = Double(inSize) / Double(outSize)
            var position = step * 0.5
            var indices = [Int](repeating: 0, count: outSize)
            for i in 0..<outSize {
                indices[i] = min(max(Int(position), 0), inSize - 1)
                position += step
            }
            return indices
        }
        let xs = table(self.width, width), ys = table(self.height, height)
        var out = [UInt8](repeating: 0, count: width * height * channels)
        for y in 0..<height {
            for x in 0..<width {
                let src = (ys[y] * self.width + xs[x]) * channels
                let dst = (y * width + x) * channels
                for c in 0..<channels { out[dst + c] = pixels[src + c] }
            }
        }
        return Image(width: width, height: height, channels: channels, pixels: out)
    }

    /// RGBA -> PIL "RGBa": colour channels multiplied by alpha / 255 with rounding.
    private func premultiplied() -> [UInt8] {
        var out = pixels
        for i in stride(from: 0, to: out.count, by: 4) {
            let a = Int(out[i + 3])
            for c in 0..<3 {
                let t = Int(out[i + c]) * a + 128
                out[i + c] = UInt8(((t >> 8) + t) >> 8)
            }
        }
        return out
    }

    /// PIL "RGBa" -> RGBA: p = min(255, 255 p' / a) (integer division); a = 0 or 255 unchanged.
    private mutating func unpremultiply() {
        for i in stride(from: 0, to: pixels.count, by: 4) {
            let a = Int(pixels[i + 3])
            guard a != 0 && a != 255 else { continue }
            for c in 0..<3 { pixels[i + c] = UInt8(min(255, 255 * Int(pixels[i + c]) / a)) }
        }
    }
}

/// A single-channel Float map (heatmap, saliency, activation), row-major [height, width].
public struct FloatMap: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var values: [Float]

    public init(width: Int, height: Int, values: [Float]) {
        precondition(width >= 0 && height >= 0 && values.count == width * height,
                     "\(width)x\(height) map needs \(width * height) values, got \(values.count)")
        (self.width, self.height, self.values) = (width, height, values)
    }

    /// From a tensor of shape [H, W], [1, H, W] or [1, 1, H, W].
    public init(tensor: Tensor) {
        let shape = tensor.shape
        precondition(shape.count >= 2 && shape.dropLast(2).allSatisfy { $0 == 1 },
                     "FloatMap needs shape [H, W], [1, H, W] or [1, 1, H, W], got \(shape)")
        self.init(width: shape[shape.count - 1], height: shape[shape.count - 2], values: tensor.scalars)
    }

    /// Bilinear resize with PyTorch's `interpolate(mode: "bilinear", align_corners: false)`
    /// semantics: src = max((i + 0.5) * in / out - 0.5, 0), i0 = floor(src), i1 = min(i0 + 1, in - 1),
    /// value = lerp along x, then along y (Float arithmetic).
    public func resizedBilinear(width: Int, height: Int) -> FloatMap {
        precondition(width > 0 && height > 0 && self.width > 0 && self.height > 0,
                     "bilinear resize needs non-empty sizes, \(self.width)x\(self.height) -> \(width)x\(height)")
        func taps(_ inSize: Int, _ outSize: Int) -> [(Int, Int, Float)] {
            let scale = Float(inSize) / Float(outSize)
            return (0..<outSize).map { i in
                let src = max(scale * (Float(i) + 0.5) - 0.5, 0)
                let i0 = min(Int(src), inSize - 1)
                return (i0, min(i0 + 1, inSize - 1), src - Float(i0))
            }
        }
        let xs = taps(self.width, width), ys = taps(self.height, height)
        let inWidth = self.width
        var out = [Float](repeating: 0, count: width * height)
        values.withUnsafeBufferPointer { v in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let (y0, y1, ly) = ys[y]
                    for x in 0..<width {
                        let (x0, x1, lx) = xs[x]
                        let top = (1 - lx) * v[y0 * inWidth + x0] + lx * v[y0 * inWidth + x1]
                        let bottom = (1 - lx) * v[y1 * inWidth + x0] + lx * v[y1 * inWidth + x1]
                        dst[y * width + x] = (1 - ly) * top + ly * bottom
                    }
                }
            }
        }
        return FloatMap(width: width, height: height, values: out)
    }

    /// Values mapped linearly to 0...1: (v - lo) / (hi - lo), clamped, where `range` defaults to
    /// the finite min...max of the map. A flat map (hi == lo) gives zeros; NaN gives 0.
    public func normalized(range: ClosedRange<Float>? = nil) -> FloatMap {
        var (lo, hi) = (Float.infinity, -Float.infinity)
        if let range {
            (lo, hi) = (range.lowerBound, range.upperBound)
        } else {
            for v in values where v.isFinite { (lo, hi) = (min(lo, v), max(hi, v)) }
        }
        let span = hi - lo
        var scaled = [Float](repeating: 0, count: values.count)
        if span > 0 && span.isFinite {
            values.withUnsafeBufferPointer { src in
                scaled.withUnsafeMutableBufferPointer { dst in
                    for i in 0..<src.count where !src[i].isNaN {
                        dst[i] = min(max((src[i] - lo) / span, 0), 1)
                    }
                }
            }
        }
        return FloatMap(width: width, height: height, values: scaled)
    }
}

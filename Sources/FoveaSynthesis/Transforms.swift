import Foundation
import FoveaTensor

/// A random change of the image before each step (transformation robustness, Mordvintsev et
/// al. 2015, Olah et al. 2017): what is found must survive it, so it cannot be a pattern of
/// single pixels. Random choices come from the run's seeded generator.
public enum ImageTransform: Sendable, Equatable {
    /// Pad every side by n pixels of a constant value.
    case pad(Int, value: Float)
    /// A random crop that removes 0..<d pixels on each axis (Lucid's jitter).
    case jitter(Int)
    /// Roll by a random offset in -d...d on each axis, wrapping around.
    case roll(Int)
    /// Resize by a factor drawn from the list (bilinear).
    case scale([Float])
    /// Rotate about the centre by an angle drawn from the list, in degrees (bilinear, zeros outside).
    case rotate([Float])
    /// MACO's crops: each image becomes `count` random square crops whose side is a fraction
    /// in `box` of the image's, resampled (bilinear) to `size` pixels; the batch grows by
    /// `count`.
    case crops(count: Int, box: ClosedRange<Float>, size: Int)
    /// Gaussian noise of this standard deviation added to every pixel.
    case noise(Float)

    /// Lucid's standard transforms: pad 12 (grey), jitter 8, scale 0.90...1.10 by 0.02, rotate
    /// -10...10 degrees, jitter 4.
    public static let standard: [ImageTransform] = [
        .pad(12, value: 0.5), .jitter(8),
        .scale((0...10).map { 0.9 + 0.02 * Float($0) }),
        .rotate((-10...10).map(Float.init)),
        .jitter(4),
    ]

    /// MACO's views of a large image (Fel et al. 2023): 6 random crops per step, whose sides are
    /// 0.25-0.30 of a 1280-pixel image (horama 0.3.0's boxes, 320-384 pixels; at most the whole
    /// image here), resampled to the model's input size, plus noise of 0.01 (horama's 0.05 on its
    /// -2.5...2.5 scale).
    public static func macoCrops(imageSize: Int, inputSize: Int) -> [ImageTransform] {
        let (lo, hi) = (min(1, 320 / Float(imageSize)), min(1, 384 / Float(imageSize)))
        return [.crops(count: 6, box: lo...hi, size: inputSize), .noise(0.01)]
    }

    /// The transforms with their pixel amounts scaled from Lucid's 224-pixel setting to images
    /// of `size` pixels (at least 1 where they were not 0): pad 12 is pad 2 at 28 pixels.
    public static func scaled(_ transforms: [ImageTransform], toSize size: Int) -> [ImageTransform] {
        guard size < 224 else { return transforms }
        func s(_ n: Int) -> Int { n == 0 ? 0 : max(1, Int((Float(n) * Float(size) / 224).rounded())) }
        return transforms.map {
            switch $0 {
            case .pad(let n, let value): return .pad(s(n), value: value)
            case .jitter(let d): return .jitter(s(d) > 1 ? s(d) : 2)
            case .roll(let d): return .roll(s(d))
            default: return $0
            }
        }
    }

    /// Applies the transform to [B, C, H, W].
    public func apply(_ x: Tensor, using generator: inout SeededGenerator) -> Tensor {
        let (h, w) = (x.shape[2], x.shape[3])
        switch self {
        case .pad(let n, let value):
            guard n > 0 else { return x }
            return (x - value).padded(top: n, bottom: n, left: n, right: n) + value
        case .jitter(let d):
            guard d > 1, h > d, w > d else { return x }
            let dy = Int.random(in: 0..<d, using: &generator), dx = Int.random(in: 0..<d, using: &generator)
            return x.slice(axis: 2, dy..<(dy + h - d + 1)).slice(axis: 3, dx..<(dx + w - d + 1))
        case .roll(let d):
            guard d > 0 else { return x }
            return x.rolled(dy: Int.random(in: -d...d, using: &generator), dx: Int.random(in: -d...d, using: &generator))
        case .scale(let factors):
            let (nh, nw) = Self.scaledSize(h, w, by: factors.randomElement(using: &generator) ?? 1)
            return nh == h && nw == w ? x : x.resized(height: nh, width: nw)
        case .rotate(let degrees):
            let angle = (degrees.randomElement(using: &generator) ?? 0) * .pi / 180
            return angle == 0 ? x : x.rotatedAndScaled(angle: angle, scale: 1)
        case .crops(let count, let box, let size):
            let b = x.shape[0]
            let copies = Tensor.concat((0..<count).map { _ in x }, axis: 0)      // [count B, C, H, W], copy k of image i at k B + i
            // A crop of side s (a fraction of the image) centred at (cx, cy) in normalised coordinates.
            let theta = (0..<(count * b)).flatMap { _ -> [Float] in
                let s = Float.random(in: box, using: &generator)
                let cx = Float.random(in: -(1 - s)...(1 - s), using: &generator), cy = Float.random(in: -(1 - s)...(1 - s), using: &generator)
                return [s, 0, cx, 0, s, cy]
            }
            return copies.affineResampled(theta: theta, height: size, width: size)
        case .noise(let std):
            return std > 0 ? x + gaussianNoise(x.shape, std: std, using: &generator) : x
        }
    }

    /// Applies `transforms` in order. A scale followed by a rotation is one bilinear resampling
    /// (the image read at the rotated point, at the scaled size: each output pixel interpolated
    /// once instead of twice), with the same random draws as applying them one by one.
    public static func apply(_ transforms: [ImageTransform], to x: Tensor, using generator: inout SeededGenerator) -> Tensor {
        var x = x
        var i = 0
        while i < transforms.count {
            if case .scale(let factors) = transforms[i], i + 1 < transforms.count, case .rotate(let degrees) = transforms[i + 1] {
                let (nh, nw) = scaledSize(x.shape[2], x.shape[3], by: factors.randomElement(using: &generator) ?? 1)
                let angle = (degrees.randomElement(using: &generator) ?? 0) * .pi / 180
                let (c, sn) = (Foundation.cos(angle), Foundation.sin(angle))
                x = x.affineResampled(theta: [c, -sn, 0, sn, c, 0], height: nh, width: nw)
                i += 2
            } else {
                x = transforms[i].apply(x, using: &generator)
                i += 1
            }
        }
        return x
    }

    /// h x w scaled by s, rounded, at least 1 x 1.
    static func scaledSize(_ h: Int, _ w: Int, by s: Float) -> (Int, Int) {
        (max(1, Int((Float(h) * s).rounded())), max(1, Int((Float(w) * s).rounded())))
    }

    /// What the flag value `standard`, `none` or a comma-separated list such as
    /// `pad:12,jitter:8,scale:0.9-1.1,rotate:10,roll:4` means.
    public static func parse(_ text: String) throws -> [ImageTransform] {
        switch text {
        case "standard": return standard
        case "none", "": return []
        default: break
        }
        return try text.split(separator: ",").map { item in
            let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw SynthesisError("--transforms \(text): '\(item)' is not NAME:VALUE (or use standard or none)") }
            let bad = SynthesisError("--transforms \(text): '\(item)' has a bad value")
            switch parts[0] {
            case "pad": guard let n = Int(parts[1]), n >= 0 else { throw bad }; return .pad(n, value: 0.5)
            case "jitter": guard let n = Int(parts[1]), n >= 0 else { throw bad }; return .jitter(n)
            case "roll": guard let n = Int(parts[1]), n >= 0 else { throw bad }; return .roll(n)
            case "noise": guard let s = Float(parts[1]), s >= 0, s.isFinite else { throw bad }; return .noise(s)
            case "crops":
                // crops:COUNTxSIZE (box 0.25-0.30 of the image, as horama), e.g. crops:6x224
                let v = parts[1].split(separator: "x").compactMap { Int($0) }
                guard v.count == 2, (1...64).contains(v[0]), (8...1024).contains(v[1]) else { throw bad }
                return .crops(count: v[0], box: 0.25...0.30, size: v[1])
            case "rotate": guard let d = Float(parts[1]), d >= 0, d <= 180 else { throw bad }; return .rotate(stride(from: -d, through: d, by: 1).map { $0 })
            case "scale":
                let ends = parts[1].split(separator: "-").compactMap { Float($0) }
                guard ends.count == 2, ends[0] > 0, ends[1] >= ends[0], ends[1] <= 4 else { throw bad }
                let count = max(1, Int(((ends[1] - ends[0]) / 0.02).rounded()))
                return .scale((0...count).map { ends[0] + (ends[1] - ends[0]) * Float($0) / Float(count) })
            default: throw SynthesisError("--transforms \(text): unknown transform '\(parts[0])' (pad, jitter, roll, scale, rotate, crops, noise)")
            }
        }
    }
}

/// N(0, std^2) noise by Marsaglia's polar method in Float (no trigonometry; 21% of pairs
/// rejected). Blocks of 16384 values each draw from their own generator, seeded by one draw of
/// `generator` and the block's index, and fill on every core: the values depend on the seed,
/// not on the number of threads. The noise transform draws a value per pixel of every crop at
/// every step (MACO: 6 x 3 x 224 x 224).
func gaussianNoise(_ shape: [Int], std: Float, using generator: inout SeededGenerator) -> Tensor {
    let base = generator.next(), block = 1 << 14
    return Tensor(overwriting: shape) { buf in
        let (p, count) = (buf.baseAddress!, buf.count)
        Parallel.forEach((count + block - 1) / block) { blocks in
            for k in blocks {
                var g = SeededGenerator(seed: base ^ (UInt64(k) &* 0xD1B5_4A32_D192_ED03))
                var i = k * block
                let end = min(count, i + block)
                while i < end {
                    let bits = g.next()
                    // u, v uniform in [-1, 1] (32 bits each), kept inside the unit disc.
                    let u = Float(Int32(truncatingIfNeeded: bits >> 32)) * 0x1p-31
                    let v = Float(Int32(truncatingIfNeeded: bits)) * 0x1p-31
                    let s = u * u + v * v
                    guard s > 0 && s < 1 else { continue }
                    let f = std * (-2 * Foundation.log(s) / s).squareRoot()
                    p[i] = u * f
                    if i + 1 < end { p[i + 1] = v * f }
                    i += 2
                }
            }
        }
    }
}

/// One line naming the argument and the problem.
public struct SynthesisError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

import Foundation

/// A small seedable generator (SplitMix64), so random initialisation and noise are reproducible.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Tensor {
    /// Elements drawn uniformly from `range` (24 random bits each, two per generator step).
    public static func uniform(_ shape: [Int], in range: ClosedRange<Float>,
                               using generator: inout SeededGenerator) -> Tensor {
        let (lo, width) = (range.lowerBound, range.upperBound - range.lowerBound)
        return Tensor(overwriting: shape) { buf in
            var i = 0
            while i < buf.count {
                let bits = generator.next()
                buf[i] = lo + width * Float(bits >> 40) * 0x1p-24
                if i + 1 < buf.count { buf[i + 1] = lo + width * Float((bits >> 8) & 0xFF_FFFF) * 0x1p-24 }
                i += 2
            }
        }
    }

    /// Elements drawn from N(mean, std^2) (Box-Muller).
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1,
                              using generator: inout some RandomNumberGenerator) -> Tensor {
        Tensor(overwriting: shape) { buf in
            var i = 0
            while i < buf.count {
                let u1 = Double.random(in: Double.leastNonzeroMagnitude..<1, using: &generator)
                let u2 = Double.random(in: 0..<1, using: &generator)
                let r = (-2 * Foundation.log(u1)).squareRoot()
                buf[i] = mean + std * Float(r * Foundation.cos(2 * .pi * u2))
                if i + 1 < buf.count { buf[i + 1] = mean + std * Float(r * Foundation.sin(2 * .pi * u2)) }
                i += 2
            }
        }
    }
}

import Foundation
import FoveaNN
import FoveaTensor

/// Weights both Fovea and PyTorch can generate from a formula (Tests/Golden/make_synthetic_golden.py):
/// each entry is a function of its state-dict key and element index, so golden tests of large
/// architectures need no checkpoint files.
public enum SyntheticWeights {
    static func fnv1a(_ text: String) -> UInt64 {
        var h: UInt64 = 0x811C_9DC5
        for b in text.utf8 { h = ((h ^ UInt64(b)) &* 0x0100_0193) & 0xFFFF_FFFF }
        return h
    }

    /// u(key, i) in [-0.5, 0.5): a 32-bit murmur-style finaliser of i * 0x9E3779B1 + fnv1a(key).
    public static func uniform(_ key: String, count: Int) -> [Float] {
        let seed = fnv1a(key)
        return (0..<count).map { i in
            var h = (UInt64(i) &* 0x9E37_79B1 &+ seed) & 0xFFFF_FFFF
            h ^= h >> 16
            h = (h &* 0x85EB_CA6B) & 0xFFFF_FFFF
            h ^= h >> 13
            h = (h &* 0xC2B2_AE35) & 0xFFFF_FFFF
            h ^= h >> 16
            return Float(Double(h) / 4_294_967_296 - 0.5)
        }
    }

    /// The value of state-dict entry `key` with `shape` (see the golden script for the formula).
    public static func tensor(_ key: String, shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        let u = uniform(key, count: n)
        let values: [Float]
        if key.hasSuffix("num_batches_tracked") {
            values = [Float](repeating: 0, count: n)
        } else if key.hasSuffix("running_var") {
            values = u.map { 1 + $0 }
        } else if key.hasSuffix("running_mean") {
            values = u.map { 0.2 * $0 }
        } else if key.hasPrefix("layer") && (key.hasSuffix("bn2.weight") || key.hasSuffix("bn3.weight")) {
            values = u.map { 0.2 * $0 }                 // ResNet residual branches start small
        } else if shape.count == 1 {
            values = key.hasSuffix(".weight") ? u.map { 1 + 0.2 * $0 } : u.map { 0.2 * $0 }
        } else {
            let scale = Float((24.0 / Double(shape.dropFirst().reduce(1, *))).squareRoot())
            values = u.map { $0 * scale }
        }
        return Tensor(shape: shape, values: values)
    }

    /// Loads the synthetic value of every state-dict entry into `module`.
    public static func load(into module: Module) throws {
        let state = Dictionary(uniqueKeysWithValues: module.stateDict().map { ($0.key, tensor($0.key, shape: $0.tensor.shape)) })
        _ = try module.loadStateDict(state)
    }

    /// The golden input: 2 u("input", i), [1, 3, 64, 64].
    public static var input: Tensor { Tensor(shape: [1, 3, 64, 64], values: uniform("input", count: 3 * 64 * 64).map { 2 * $0 }) }
}

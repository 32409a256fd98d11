import Foundation
import FoveaTensor

/// Random initialisation for freshly built layers (PyTorch's defaults), from one seeded stream
/// so that untrained models are reproducible.
public enum Init {
    nonisolated(unsafe) static var generator = SeededGenerator(seed: 0)
    static let lock = NSLock()

    /// Restarts the initialisation stream (models built afterwards are identical).
    public static func reseed(_ seed: UInt64) { lock.withLock { generator = SeededGenerator(seed: seed) } }

    /// U(-1/sqrt(fanIn), 1/sqrt(fanIn)): PyTorch's default for conv and linear weights
    /// (kaiming_uniform with a = sqrt(5)) and biases.
    public static func uniformFanIn(_ shape: [Int], fanIn: Int) -> Tensor {
        let bound = 1 / Float(max(fanIn, 1)).squareRoot()
        return lock.withLock { Tensor.uniform(shape, in: -bound...bound, using: &generator) }
    }
}

import Foundation
import FoveaTensor

/// Random initialisation for freshly built layers (PyTorch's defaults), from one seeded stream
/// so that untrained models are reproducible.
public enum Init {
    nonisolated(unsafe) static var generator = SeededGenerator(seed: 0)
    static let lock = NSLock()

    /// Within ``shapesOnly(_:)``, layers get zero weights without drawing random numbers: for
    /// listings that only need shapes and counts (`fovea models`).
    @TaskLocal static var skipsValues = false

    /// Builds with `body` without random initialisation (weights are zeros, allocated lazily).
    public static func shapesOnly<T>(_ body: () throws -> T) rethrows -> T {
        try $skipsValues.withValue(true, operation: body)
    }

    /// Restarts the initialisation stream (models built afterwards are identical).
    public static func reseed(_ seed: UInt64) { lock.withLock { generator = SeededGenerator(seed: seed) } }

    /// U(-1/sqrt(fanIn), 1/sqrt(fanIn)): PyTorch's default for conv and linear weights
    /// (kaiming_uniform with a = sqrt(5)) and biases.
    public static func uniformFanIn(_ shape: [Int], fanIn: Int) -> Tensor {
        if skipsValues { return Tensor(shape: shape, storage: Storage(untouchedZeros: shape.reduce(1, *))) }
        let bound = 1 / Float(max(fanIn, 1)).squareRoot()
        return lock.withLock { Tensor.uniform(shape, in: -bound...bound, using: &generator) }
    }
}

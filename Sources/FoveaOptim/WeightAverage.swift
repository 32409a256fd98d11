import FoveaTensor

/// An exponential moving average of parameters (Polyak averaging; `torch.optim.swa_utils`'
/// EMA averaging): after each optimiser step a = decay a + (1 - decay) p, starting from the
/// parameters' values. Averaged weights are what a noisy training run is worth at its end: a
/// network read at one step carries that step's jitter, the average keeps about the last
/// 1 / (1 - decay) steps.
public final class WeightAverage {
    public let parameters: [Tensor]
    public let decay: Float
    /// One array per parameter, in order, each the parameter's element count.
    public private(set) var averages: [[Float]]

    public init(_ parameters: [Tensor], decay: Float) {
        precondition(decay >= 0 && decay < 1, "WeightAverage: decay \(decay) outside [0, 1)")
        self.parameters = parameters
        self.decay = decay
        averages = []
        restart()
    }

    /// Starts the averages over at the parameters' current values.
    public func restart() { averages = parameters.map { Array($0.buffer) } }

    /// Folds the parameters' current values into the averages.
    public func update() {
        let (d, e) = (decay, 1 - decay)
        for (i, p) in parameters.enumerated() {
            let w = p.buffer
            averages[i].withUnsafeMutableBufferPointer { a in
                for j in a.indices { a[j] = d * a[j] + e * w[j] }
            }
        }
    }

    /// Continues from saved averages (a checkpoint's), in parameter order.
    public func restore(_ saved: [[Float]]) {
        precondition(saved.count == parameters.count && zip(saved, parameters).allSatisfy { $0.count == $1.count },
                     "WeightAverage.restore: the saved averages do not match the parameters' shapes")
        averages = saved
    }

    /// Runs `body` with the averages in the parameters, then puts the trained values back.
    public func withAveragedWeights<T>(_ body: () throws -> T) rethrows -> T {
        let trained = parameters.map { Array($0.buffer) }
        for (p, a) in zip(parameters, averages) { _ = p.buffer.update(fromContentsOf: a) }
        defer { for (p, w) in zip(parameters, trained) { _ = p.buffer.update(fromContentsOf: w) } }
        return try body()
    }
}

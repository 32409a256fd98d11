import Foundation
import FoveaNN
import FoveaTensor

/// Loss and accuracy of one pass over a dataset.
public struct EpochMetrics: Sendable, Codable, Equatable {
    public var loss: Float
    public var accuracy: Float
}

/// Minibatch training of a classifier with cross-entropy: shuffled (seeded) batches, one
/// optimiser step per batch, the learning rate set from the schedule before every step.
public final class Trainer {
    public let model: Module
    public let optimizer: any Optimizer
    public let schedule: LearningRateSchedule
    public let batchSize: Int
    public private(set) var steps = 0
    private let initialRate: Float
    private var generator: SeededGenerator

    public init(model: Module, optimizer: any Optimizer, schedule: LearningRateSchedule = .constant,
                batchSize: Int = 128, seed: UInt64 = 0) {
        precondition(batchSize >= 1, "batch size must be at least 1")
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule
        self.batchSize = batchSize
        self.initialRate = optimizer.learningRate
        self.generator = SeededGenerator(seed: seed)
    }

    /// One epoch over `data` in a fresh random order. `progress(done, total, running metrics)`
    /// is called after every batch. Returns the mean training loss and accuracy.
    @discardableResult
    public func trainEpoch(_ data: TensorDataset, progress: ((Int, Int, EpochMetrics) -> Void)? = nil) -> EpochMetrics {
        model.train()
        defer { model.eval() }
        let order = Array(0..<data.count).shuffled(using: &generator)
        var (lossSum, correct, seen) = (0.0, 0, 0)
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let (x, y) = data.batch(order[start..<min(start + batchSize, order.count)])
            optimizer.learningRate = schedule.rate(initial: initialRate, step: steps)
            optimizer.zeroGrad()
            let logits = model(x)
            let loss = Loss.crossEntropy(logits, labels: y)
            loss.backward()
            optimizer.step()
            steps += 1
            lossSum += Double(loss.item) * Double(y.count)
            correct += Trainer.correct(logits, y)
            seen += y.count
            progress?(seen, order.count, EpochMetrics(loss: Float(lossSum / Double(seen)), accuracy: Float(correct) / Float(seen)))
        }
        return EpochMetrics(loss: Float(lossSum / Double(max(seen, 1))), accuracy: Float(correct) / Float(max(seen, 1)))
    }

    /// Loss and accuracy of `model` (in eval mode) on `data`, without recording gradients.
    public static func evaluate(_ model: Module, on data: TensorDataset, batchSize: Int = 500) -> EpochMetrics {
        model.eval()
        var (lossSum, correct) = (0.0, 0)
        withNoGrad {
            for start in stride(from: 0, to: data.count, by: batchSize) {
                let (x, y) = data.batch(start..<min(start + batchSize, data.count))
                let logits = model(x)
                lossSum += Double(Loss.crossEntropy(logits, labels: y).item) * Double(y.count)
                correct += Trainer.correct(logits, y)
            }
        }
        let n = max(data.count, 1)
        return EpochMetrics(loss: Float(lossSum / Double(n)), accuracy: Float(correct) / Float(n))
    }

    /// How many rows of logits [N, C] have their largest value at the label.
    static func correct(_ logits: Tensor, _ labels: [Int]) -> Int {
        zip(logits.argmax(), labels).filter { $0 == $1 }.count
    }
}

import Foundation
import Testing
import FoveaTensor
import _FoveaTestSupport
@testable import FoveaTraining

/// torch.optim against Fovea's optimisers: the same parameter and gradients, three steps
/// (Tests/Golden/make_training_golden.py).
@Suite struct OptimizerTests {
    static let folder = Golden.folder.deletingLastPathComponent().appendingPathComponent("training")

    struct Case: Decodable {
        let settings: [String: Settings]
        let after: [[Float]]
        enum Settings: Decodable {
            case number(Float), pair([Float]), flag(Bool)
            init(from decoder: Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let b = try? c.decode(Bool.self) { self = .flag(b) }
                else if let v = try? c.decode(Float.self) { self = .number(v) }
                else { self = .pair(try c.decode([Float].self)) }
            }
        }
        func number(_ key: String, _ fallback: Float) -> Float {
            if case .number(let v)? = settings[key] { return v }
            return fallback
        }
    }
    struct File: Decodable {
        let initial: [Float]
        let gradients: [[Float]]
        let cases: [String: Case]
    }

    static func load() throws -> File {
        try JSONDecoder().decode(File.self, from: Data(contentsOf: folder.appendingPathComponent("optimizers.json")))
    }

    func optimizer(_ name: String, _ c: Case, _ p: Tensor) -> any Optimizer {
        if name.hasPrefix("sgd") {
            var nesterov = false
            if case .flag(let b)? = c.settings["nesterov"] { nesterov = b }
            return SGD([p], learningRate: c.number("lr", 0), momentum: c.number("momentum", 0),
                       weightDecay: c.number("weight_decay", 0), nesterov: nesterov)
        }
        var betas: [Float] = [0.9, 0.999]
        if case .pair(let b)? = c.settings["betas"] { betas = b }
        return Adam([p], learningRate: c.number("lr", 0), beta1: betas[0], beta2: betas[1],
                    epsilon: c.number("eps", 1e-8), weightDecay: c.number("weight_decay", 0))
    }

    @Test(arguments: ["sgd", "sgd_momentum_wd", "sgd_nesterov", "adam", "adam_wd"])
    func matchesTorchOptim(_ name: String) throws {
        let file = try Self.load()
        let c = try #require(file.cases[name])
        let p = Tensor(shape: [file.initial.count], values: file.initial)
        let opt = optimizer(name, c, p)
        for (g, expected) in zip(file.gradients, c.after) {
            p.grad = Tensor(shape: [g.count], values: g)
            opt.step()
            #expect(maxAbsDifference(p.scalars, expected) < 2e-6, "\(name): \(p.scalars) vs \(expected)")
        }
    }

    @Test func parametersWithoutGradientStayPut() {
        let p = Tensor(shape: [2], values: [1, 2])
        let opt = Adam([p], learningRate: 0.1)
        opt.step()
        #expect(p.scalars == [1, 2])
    }

    /// a = d a + (1 - d) w from the starting values; the averages sit in the parameters only
    /// inside withAveragedWeights.
    @Test func weightAverageFollowsItsRecurrence() {
        let p = Tensor(shape: [2], values: [1, 2])
        let average = WeightAverage([p], decay: 0.75)
        _ = p.buffer.update(fromContentsOf: [5, 6] as [Float])
        average.update()
        #expect(average.averages == [[2, 3]])
        _ = p.buffer.update(fromContentsOf: [6, 7] as [Float])
        average.update()
        #expect(average.averages == [[3, 4]])
        let inside = average.withAveragedWeights { p.scalars }
        #expect(inside == [3, 4] && p.scalars == [6, 7])
    }

    @Test func schedulesFollowTorch() {
        // CosineAnnealingLR(T_max = 10): lr_t = lr0 (1 + cos(pi t / 10)) / 2.
        let cosine = LearningRateSchedule.cosine(total: 10)
        #expect(cosine.rate(initial: 1, step: 0) == 1)
        #expect(abs(cosine.rate(initial: 1, step: 5) - 0.5) < 1e-6)
        #expect(abs(cosine.rate(initial: 1, step: 10)) < 1e-6)
        // StepLR(step_size = 3, gamma = 0.1).
        let step = LearningRateSchedule.step(every: 3, gamma: 0.1)
        #expect(step.rate(initial: 1, step: 2) == 1)
        #expect(abs(step.rate(initial: 1, step: 3) - 0.1) < 1e-7)
        #expect(abs(step.rate(initial: 1, step: 7) - 0.01) < 1e-8)
    }
}

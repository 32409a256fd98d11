import ArgumentParser
import Fovea
import FoveaIO
import FoveaModels
import FoveaNN
import FoveaTensor
import FoveaTraining
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model from scratch on a labelled dataset.",
        discussion: """
        Minibatch training with cross-entropy. The dataset is fashion-mnist (training on its \
        60k training images, testing on its 10k test images), an IDX images file with its \
        labels file beside it, or a folder with one subfolder per class; --test-dataset adds \
        a held-out set (fashion-mnist has one built in). Inputs are prepared with the \
        architecture's preprocessing. The weights are written as safetensors with PyTorch \
        state-dict keys, ready for --weights.

        The shipped fashion-cnn weights come from exactly:
          fovea train fashion-mnist --model fashion-cnn --epochs 4 -o fashion-cnn.safetensors
        """
    )

    @Argument(help: "fashion-mnist, an IDX images file, or a folder of class subfolders.")
    var datasetArgument: String?

    @Option(name: .customLong("dataset"), help: .hidden)
    var datasetOption: String?

    /// The dataset, positional like every other command's (`--dataset` still works).
    var dataset: String { datasetArgument ?? datasetOption ?? "" }

    @Flag(name: .long, help: skipUnreadableHelp)
    var skipUnreadable = false

    @Option(name: .long, help: "Held-out dataset for the test accuracy (default for fashion-mnist: its test split).")
    var testDataset: String?

    @Option(name: [.customLong("model"), .customLong("arch")], help: "Architecture (see `fovea models`); --arch is the old name.")
    var arch = "fashion-cnn"

    @Option(name: .long, help: "Passes over the training set.")
    var epochs = 4

    @Option(name: .long, help: "Images per step.")
    var batch = 128

    @Option(name: .long, help: "adam or sgd.")
    var optimizer: OptimizerKind = .adam

    @Option(name: .long, help: "Initial learning rate (default: 0.001 for adam, 0.05 for sgd).")
    var lr: Float?

    @Option(name: .long, help: "sgd: momentum.")
    var momentum: Float = 0.9

    @Option(name: .long, help: "L2 weight decay.")
    var weightDecay: Float = 0

    @Option(name: .long, help: "cosine (to 0 over all steps), step (x0.1 every third of the steps) or constant.")
    var schedule: ScheduleKind = .cosine

    @Option(name: .long, help: "Seed for the initial weights and the shuffling.")
    var seed: UInt64 = 0

    @Option(name: [.customShort("o"), .long], help: "Trained weights (.safetensors).")
    var output: String

    @Flag(name: .long, help: "Print the per-epoch metrics as JSON.")
    var json = false

    enum OptimizerKind: String, ExpressibleByArgument { case adam, sgd }
    enum ScheduleKind: String, ExpressibleByArgument { case cosine, step, constant }

    struct EpochReport: Codable {
        let epoch: Int
        let train: EpochMetrics
        let test: EpochMetrics?
        let seconds: Double
    }

    func run() throws {
        guard (datasetArgument == nil) != (datasetOption == nil) else {
            throw FoveaError(datasetArgument == nil ? "give the dataset to train on: fovea train DATASET" : "give the dataset once (positional or --dataset)")
        }
        try checkWritable(output, flag: "-o", extensions: ["safetensors"])
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        if let lr { guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive") } }
        guard let spec = ModelSpec.named(arch) else {
            throw FoveaError("--model \(arch): unknown architecture; available: \(ModelSpec.all.map(\.name).joined(separator: ", "))")
        }
        let isFashion = dataset.lowercased().hasPrefix("fashion-mnist")
        let trainSet = try openDatasetNoting(isFashion && !dataset.contains(":") ? "fashion-mnist:train" : dataset, skipUnreadable: skipUnreadable)
        let testSpec = testDataset ?? (isFashion ? "fashion-mnist:test" : nil)
        let testSet = try testSpec.map { try openDatasetNoting($0, skipUnreadable: skipUnreadable) }
        let train = try TensorDataset(trainSet, preprocessing: spec.preprocessing, progress: ProgressBar(label: "load train").update)
        let test = try testSet.map { try TensorDataset($0, preprocessing: spec.preprocessing, progress: ProgressBar(label: "load test").update) }
        Init.reseed(seed)
        let model = spec.build()
        let classes = model.module(at: spec.classifier).flatMap { ($0 as? Linear)?.weight.shape[0] } ?? 0
        for (flag, name, labels) in [("--dataset", dataset, train.labels), ("--test-dataset", testSpec ?? "", test?.labels ?? [])] {
            if let bad = labels.first(where: { $0 < 0 || $0 >= classes }) {
                throw FoveaError("\(flag) \(name): label \(bad) out of range for \(spec.name)'s \(classes) classes")
            }
        }
        let parameters = model.namedParameters().map(\.tensor)
        for p in parameters { p.requiresGrad = true }
        let opt: any Optimizer = switch optimizer {
        case .adam: Adam(parameters, learningRate: lr ?? 1e-3, weightDecay: weightDecay)
        case .sgd: SGD(parameters, learningRate: lr ?? 0.05, momentum: momentum, weightDecay: weightDecay)
        }
        let stepsPerEpoch = (train.count + batch - 1) / batch
        let plan: LearningRateSchedule = switch schedule {
        case .cosine: .cosine(total: epochs * stepsPerEpoch)
        case .step: .step(every: max(epochs * stepsPerEpoch / 3, 1), gamma: 0.1)
        case .constant: .constant
        }
        let trainer = Trainer(model: model, optimizer: opt, schedule: plan, batchSize: batch, seed: seed)
        var reports: [EpochReport] = []
        for epoch in 1...epochs {
            let bar = ProgressBar(label: "epoch \(epoch)/\(epochs)")
            let start = Date()
            let metrics = trainer.trainEpoch(train) { done, total, running in
                bar.update(done, total, status: String(format: "loss %.4f acc %.2f%%", running.loss, running.accuracy * 100))
            }
            let seconds = Date().timeIntervalSince(start)
            let held = test.map { Trainer.evaluate(model, on: $0) }
            reports.append(EpochReport(epoch: epoch, train: metrics, test: held, seconds: seconds))
            if !json {
                var line = String(format: "epoch %d: train loss %.4f acc %.2f%%", epoch, metrics.loss, metrics.accuracy * 100)
                if let held { line += String(format: ", test loss %.4f acc %.2f%%", held.loss, held.accuracy * 100) }
                print(line + String(format: " (%.1f s)", seconds))
            }
        }
        model.eval()
        try Safetensors.write(model.stateDict().map { ($0.key, $0.tensor) },
                              metadata: ["arch": spec.name, "dataset": dataset, "epochs": String(epochs)],
                              to: URL(fileURLWithPath: output))
        if json { try printJSON(reports) } else { print("weights -> \(output)") }
    }
}

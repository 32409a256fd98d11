import Foundation
import Testing
import Fovea
import FoveaIO
import FoveaModels
import FoveaNN
import FoveaTensor
import _FoveaTestSupport
@testable import FoveaTraining

/// The shipped fashion-cnn against the same network and weights in PyTorch
/// (Tests/Golden/make_training_golden.py), on the Debian package's Fashion-MNIST.
@Suite struct FashionCNNTests {
    static let folder = Golden.folder.deletingLastPathComponent().appendingPathComponent("training")
    static func golden() throws -> [String: Tensor] { try Safetensors.load(folder.appendingPathComponent("fashion_cnn.safetensors")) }
    static func summary() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("fashion_cnn.json"))) as! [String: Any]
    }

    @Test func evalLogitsAndInputGradientMatchPyTorch() throws {
        let golden = try Self.golden()
        let classifier = try ImageClassifier.load("fashion-cnn")
        #expect(classifier.labels.names[9] == "Ankle boot")
        let test = try FashionMNIST.load(.test)
        let x = try classifier.inputs(test, 0..<16)
        #expect(x.shape == [16, 1, 28, 28])
        let logits = classifier.logits(x)
        #expect(maxAbsDifference(logits.scalars, golden["eval_logits"]!.scalars) < 1e-4)

        // Image 0 plus a little noise, so no max-pool window holds equal values (whose winner
        // float rounding decides).
        let x0 = golden["noisy_input"]!
        #expect(maxAbsDifference(x0.scalars, x.slice(axis: 0, 0..<1).scalars) <= 0.0100001)
        x0.requiresGrad = true
        let y = classifier.module(x0)
        let top = y.scalars.indices.max { y.scalars[$0] < y.scalars[$1] }!
        y.slice(axis: 1, top..<(top + 1)).sum().backward()
        #expect(relativeL2(x0.grad!.scalars, golden["input_grad"]!.scalars) < 1e-5)
    }

    @Test func testAccuracyAboveNinetyPercentAndAsInPyTorch() throws {
        let classifier = try ImageClassifier.load("fashion-cnn")
        let test = try TensorDataset(try FashionMNIST.load(.test), preprocessing: classifier.preprocessing)
        let metrics = Trainer.evaluate(classifier.module, on: test)
        let reference = try #require(try Self.summary()["test_accuracy"] as? Double)
        #expect(metrics.accuracy >= 0.90)
        #expect(abs(Double(metrics.accuracy) - reference) <= 0.0005, "Fovea \(metrics.accuracy) vs PyTorch \(reference)")
    }

    /// Train mode (BatchNorm on batch statistics, dropout off): parameter gradients, running
    /// statistics and one Adam step.
    @Test func trainingStepMatchesPyTorch() throws {
        let golden = try Self.golden()
        let model = FashionCNN()
        let weights = try #require(Workspace.shippedResource("fashion-cnn.safetensors"))
        _ = try model.loadStateDict(try Safetensors.load(weights))
        let train = try TensorDataset(try FashionMNIST.load(.train), preprocessing: .fashionMNIST)
        let (x, y) = train.batch(0..<32)
        model.train()
        model.module(at: "classifier.3")!.eval()
        let parameters = model.namedParameters()
        for p in parameters { p.tensor.requiresGrad = true }
        let opt = Adam(parameters.map(\.tensor), learningRate: 1e-3)
        let loss = Loss.crossEntropy(model(x), labels: y)
        let reference = try #require(try Self.summary()["batch_loss"] as? Double)
        #expect(abs(Double(loss.item) - reference) < 1e-5)
        loss.backward()
        func subset(_ key: String, _ t: Tensor) -> [Float] {
            key == "classifier.1.weight" ? Array(t.scalars.prefix(4 * t.shape[1])) : t.scalars
        }
        for (key, p) in parameters {
            let expected = try #require(golden["grad.\(key)"]).scalars
            #expect(relativeL2(subset(key, p.grad!), expected) < 1e-4, "gradient of \(key)")
        }
        for (key, b) in model.stateDict() where key.contains("running") {
            #expect(maxAbsDifference(b.scalars, golden["after_forward.\(key)"]!.scalars) < 1e-5, "\(key)")
        }
        opt.step()
        for (key, p) in parameters {
            #expect(maxAbsDifference(subset(key, p), golden["after_step.\(key)"]!.scalars) < 1e-5, "\(key) after one step")
        }
    }

    /// A few hundred steps from a fresh initialisation learn: a trainer that does not descend fails.
    @Test func shortTrainingReducesTheLoss() throws {
        Init.reseed(7)
        let model = FashionCNN()
        for p in model.namedParameters() { p.tensor.requiresGrad = true }
        let data = try TensorDataset(try FashionMNIST.load(.test), preprocessing: .fashionMNIST)
        let subset = TensorDataset(inputs: data.batch(0..<2000).inputs, labels: Array(data.labels[0..<2000]))
        let trainer = Trainer(model: model, optimizer: Adam(model.namedParameters().map(\.tensor)), batchSize: 64, seed: 1)
        let before = Trainer.evaluate(model, on: subset)
        trainer.trainEpoch(subset)
        let after = Trainer.evaluate(model, on: subset)
        #expect(after.loss < before.loss * 0.5)
        #expect(after.accuracy > 0.7)
    }
}

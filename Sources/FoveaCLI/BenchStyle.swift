import ArgumentParser
import Fovea
import FoveaModels
import FoveaOptim
import FoveaStyle
import FoveaSynthesis
import FoveaTensor
import Foundation

struct BenchStyle: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-style",
        abstract: "Time the feed-forward style networks (used by `make bench`).",
        discussion: """
        After one warm-up run each, --runs timed runs (milliseconds) of: stylize (the Johnson \
        network's forward pass at 1x3xSxS), adain (encoder to relu4_1 of content and style, AdaIN, \
        decoder, at SxS) and one training step of the Johnson network (batch 4 at 256x256: the \
        network, vgg16-features' perceptual loss, backward, Adam). Weights are random: the \
        timings do not depend on them. scripts/bench_style.py runs the PyTorch peer alongside.
        """
    )

    @Option(name: .long, help: "Timed runs of each.")
    var runs = 3

    @Option(name: .long, help: "Image size of stylize and adain.")
    var size = 512

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        var generator = SeededGenerator(seed: 1)
        let backbone = Synthesizer(try ImageClassifier.load("vgg16-features"))
        let image = Tensor.uniform([1, 3, size, size], in: 0...1, using: &generator)
        let style = Tensor.uniform([1, 3, size, size], in: 0...1, using: &generator)
        let net = TransformerNet()
        net.setRequiresGrad(false)
        let decoder = AdaINDecoder()
        decoder.setRequiresGrad(false)
        func time(_ body: () throws -> Void) rethrows -> [Double] {
            try body()
            return try (0..<runs).map { _ in
                let start = Date()
                try body()
                return Date().timeIntervalSince(start) * 1000
            }
        }
        var results: [String: [Double]] = [:]
        results["stylize"] = time { _ = FeedForwardStyle.stylize(image, with: net) }
        results["adain"] = try time { _ = try AdaINStyle.stylize(content: image, styles: [(style, 1)], alpha: 1, decoder: decoder, backbone: backbone) }
        let trained = TransformerNet()
        trained.train()
        let optimizer = Adam(trained.namedParameters().map(\.tensor), learningRate: 1e-3)
        let loss = try PerceptualLoss(style: Tensor.uniform([1, 3, 256, 256], in: 0...1, using: &generator), backbone: backbone,
                                      contentWeight: 1, styleWeight: 5)
        let batch = Tensor.uniform([4, 3, 256, 256], in: 0...1, using: &generator)
        results["train_step"] = try time { _ = try FeedForwardStyle.trainingStep(trained, batch: batch, loss: loss, optimizer: optimizer) }
        if json { try printJSON(results, pretty: false); return }
        for (name, ms) in results.sorted(by: { $0.key < $1.key }) {
            print(String(format: "%@: min %.0f ms, median %.0f ms", name, ms.min()!, ms.sorted()[ms.count / 2]))
        }
    }
}

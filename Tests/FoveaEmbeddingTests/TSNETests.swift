import Foundation
import Testing
import Fovea
@testable import FoveaEmbedding
import FoveaTensor
import _FoveaTestSupport

@Suite struct TSNETests {
    /// The bar on scikit-learn's digits (raw 64-d pixels, perplexity 30, PCA init):
    /// exact KL no worse than scikit-learn's Barnes-Hut result measured the same way (0.711),
    /// and 10-NN accuracy in 2-D of at least 0.97 by stratified 5-fold cross-validation.
    @Test func digitsQuality() throws {
        let url = Pretrained.workspace.cache.appendingPathComponent("datasets/digits.csv")
        let (pixels, labels) = try Digits.load(url)
        #expect(pixels.shape == [1797, 64])
        let result = try TSNE().fit(pixels)
        #expect(result.kl <= 0.711, "KL \(result.kl)")
        let accuracy = knnCrossValidation(result.coordinates.scalars, labels, k: 10, folds: 5)
        #expect(accuracy >= 0.97, "10-NN 5-fold accuracy \(accuracy)")
    }

    @Test func affinitiesHaveThePerplexityAndSumToOne() throws {
        var g = SeededGenerator(seed: 5)
        let x = Tensor.normal([60, 5], using: &g)
        let p = try TSNE.affinities(x, perplexity: 10)
        #expect(abs(p.reduce(0, +) - 1) < 1e-4)
        for i in 0..<60 { #expect(p[i * 60 + i] == 0) }
        for i in 0..<60 { for j in 0..<60 { #expect(abs(p[i * 60 + j] - p[j * 60 + i]) < 1e-7) } }
        #expect(throws: FoveaError.self) { try TSNE().fit(Tensor.normal([50, 3], using: &g)) }   // 49 < 3 x 30
    }

    /// Stratified k-fold: each class's rows, in order, split into `folds` consecutive chunks.
    func knnCrossValidation(_ y: [Float], _ labels: [Int], k: Int, folds: Int) -> Float {
        let n = labels.count
        var fold = [Int](repeating: 0, count: n)
        for c in Set(labels) {
            let rows = labels.indices.filter { labels[$0] == c }
            for (r, i) in rows.enumerated() { fold[i] = r * folds / rows.count }
        }
        var correct = 0
        for i in 0..<n {
            let neighbours = (0..<n).filter { fold[$0] != fold[i] }.map { j -> (Int, Float) in
                let (dx, dy) = (y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1])
                return (labels[j], dx * dx + dy * dy)
            }.sorted { $0.1 < $1.1 }.prefix(k)
            var votes = [Int: Int]()
            for (l, _) in neighbours { votes[l, default: 0] += 1 }
            let predicted = votes.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }!.key
            if predicted == labels[i] { correct += 1 }
        }
        return Float(correct) / Float(n)
    }
}

import Foundation
import Testing
import FoveaTensor
@testable import FoveaTraining

@Suite struct LossTests {
    @Test func crossEntropyMatchesTheFormula() {
        let logits = Tensor(shape: [2, 3], values: [1, 2, 3, 0, 0, 5])
        let loss = Loss.crossEntropy(logits, labels: [2, 0]).item
        let l0 = -(3 - log(exp(1) + exp(2) + exp(3) as Double))
        let l1 = -(0 - log(2 + exp(5) as Double))
        #expect(abs(Double(loss) - (l0 + l1) / 2) < 1e-5)
    }
}

extension LossTests {
    @Test func crossEntropyGradientIsSoftmaxMinusOneHot() {
        let logits = Tensor(shape: [2, 3], values: [1, 2, 3, 0, 0, 5], requiresGrad: true)
        Loss.crossEntropy(logits, labels: [2, 0]).backward()
        let p = logits.softmax(axis: 1).scalars
        let expected = [p[0], p[1], p[2] - 1, p[3] - 1, p[4], p[5]].map { $0 / 2 }
        #expect(zip(logits.grad!.scalars, expected).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test func meanSquaredError() {
        let a = Tensor(shape: [2, 2], values: [1, 2, 3, 4], requiresGrad: true)
        let b = Tensor(shape: [2, 2], values: [1, 0, 3, 2])
        let loss = Loss.meanSquaredError(a, b)
        #expect(abs(loss.item - 2) < 1e-6)                    // (0 + 4 + 0 + 4) / 4
        loss.backward()
        #expect(a.grad!.scalars == [0, 1, 0, 1])              // 2 (a - b) / 4
    }
}

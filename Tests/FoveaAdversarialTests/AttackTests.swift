import Foundation
import Testing
import Fovea
@testable import FoveaAdversarial
import FoveaIO
import FoveaModels
import FoveaNN
import FoveaTensor
import _FoveaTestSupport

@Suite(.serialized) struct AttackTests {
    let classifier: ImageClassifier
    init() throws { classifier = try Pretrained.efficientNet.get() }

    @Test func fgsmDirectionMatchesPyTorch() throws {
        let p = classifier.pixels(try Golden.image("astronaut_input.png"))
        let g = classifier.lossGradient(p, labels: [560]).scalars
        let expected = try NPY.readIntegers(Golden.folder.appendingPathComponent("astronaut_fgsm_sign.npy")).values
        var compared = 0, differ = 0
        for (v, e) in zip(g, expected) where e != 1 {
            compared += 1
            if (v > 0 ? 2 : 0) != e { differ += 1 }
        }
        #expect(compared > 130_000)
        #expect(differ == 0, "\(differ) of \(compared) signs differ from PyTorch's")
        // And FGSM moves every pixel by exactly epsilon in that direction (unless clipped).
        var settings = AttackSettings(method: .fgsm, epsilon: 1 / 255)
        settings.label = 560
        let result = try classifier.attack(p, settings)
        let (clean, adversarial) = (p.scalars, result.adversarial.scalars)
        for i in stride(from: 0, to: g.count, by: 101) where expected[i] != 1 {
            let moved = adversarial[i] - clean[i]
            let clipped = (clean[i] == 0 && g[i] < 0) || (clean[i] == 1 && g[i] > 0)
            #expect(clipped || abs(Swift.abs(moved) - 1 / 255) < 1e-6 && (moved > 0) == (g[i] > 0))
        }
    }

    @Test(arguments: [(Float(2) / 255, false, UInt64(1)), (Float(8) / 255, false, UInt64(2)), (Float(3) / 255, true, UInt64(3))])
    func pgdStaysInTheBallAndThePixelRange(_ epsilon: Float, _ quantize: Bool, _ seed: UInt64) throws {
        let p = classifier.pixels(try Golden.image("coffee_input.png"))
        var settings = AttackSettings(method: .pgd, epsilon: epsilon)
        (settings.steps, settings.quantize, settings.seed) = (3, quantize, seed)
        let result = try classifier.attack(p, settings)
        for (a, c) in zip(result.adversarial.scalars, p.scalars) {
            #expect(a >= 0 && a <= 1)
            #expect(Swift.abs(a - c) <= epsilon + 1e-6)
            if quantize { #expect(Swift.abs(a * 255 - (a * 255).rounded()) < 1e-3) }
        }
        #expect(result.linf <= epsilon + 1e-6)
    }

    @Test func targetedPGDReachesItsTarget() throws {
        let p = classifier.pixels(try Golden.image("chelsea_input.png"))
        var settings = AttackSettings(method: .pgd, epsilon: 2 / 255)
        settings.target = 207
        let result = try classifier.attack(p, settings)
        #expect(result.succeeded)
        #expect(result.after.top(1)[0].index == 207)
    }

    @Test func badSettingsAreErrors() throws {
        let p = classifier.pixels(try Golden.image("chelsea_input.png"))
        var settings = AttackSettings(method: .fgsm, epsilon: 1 / 255)
        settings.target = 282                                            // already the top-1 class
        #expect(throws: FoveaError.self) { try classifier.attack(p, settings) }
        settings.target = 5000
        #expect(throws: FoveaError.self) { try classifier.attack(p, settings) }
    }

    @Test func epsilonParsing() throws {
        #expect(try AttackSettings.parseEpsilon("2/255") == 2 / 255)
        #expect(try AttackSettings.parseEpsilon("8") == 8 / 255)
        #expect(try AttackSettings.parseEpsilon("0.03") == 0.03)
        #expect(try AttackSettings.parseEpsilon("0") == 0)
        for bad in ["-1", "300", "abc", "1/0", "nan"] {
            #expect(throws: FoveaError.self) { try AttackSettings.parseEpsilon(bad) }
        }
    }

    /// A softmax saturated at p = 1 in float has an exactly zero cross-entropy gradient; the
    /// attack then follows the logit margin and still moves the pixels.
    @Test func saturatedSoftmaxFallsBackToTheLogitMargin() throws {
        let model = Sequential([Flatten(), Linear(3 * 4 * 4, 2)])
        try model.loadStateDict(["1.weight": Tensor(shape: [2, 48], values: [Float](repeating: 40, count: 48) + [Float](repeating: -40, count: 48)),
                                 "1.bias": Tensor(zeros: [2])])
        model.eval()
        model.setRequiresGrad(false)
        let spec = ModelSpec(name: "saturated", summary: "", preprocessing: Preprocessing(inputSize: 4, crop: .resize, mean: [0, 0, 0], std: [255, 255, 255]),
                             classifier: "1", camLayer: "1", defaultWeights: nil, build: { Sequential([]) })
        let classifier = ImageClassifier(spec: spec, module: model, labels: Labels(names: ["a", "b"]))
        let clean = Tensor(repeating: 0.5, shape: [1, 3, 4, 4])
        #expect(classifier.predict(classifier.normalizedInput(clean)).probabilities[0] == 1)       // 40 x 48 x 0.5 apart
        let crossEntropy = classifier.lossGradient(clean, labels: [0]).scalars
        var settings = AttackSettings(method: .fgsm, epsilon: 8 / 255)
        settings.label = 0
        let result = try classifier.attack(clean, settings)
        #expect(result.usedLogitMargin)
        #expect(crossEntropy.contains { $0 != 0 }, "lossGradient falls back by itself")
        #expect(abs(result.linf - 8 / 255) < 1e-6)
        // Every pixel moved against class a's weights (down), as the margin's gradient says.
        #expect(zip(result.adversarial.scalars, clean.scalars).allSatisfy { $0 < $1 })
    }
}

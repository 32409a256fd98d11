import Foundation
import Testing
@testable import FoveaStyle
import FoveaTensor

@Suite struct FeatureStatisticsTests {
    @Test func gramMatrixIsFeaturesTimesTheirTranspose() {
        // F = [[1, 2, 3, 4], [0, -1, 2, 1]] as [1, 2, 2, 2]: G = [[30, 8], [8, 6]].
        let f = Tensor(shape: [1, 2, 2, 2], values: [1, 2, 3, 4, 0, -1, 2, 1])
        #expect(f.gramMatrices().shape == [1, 2, 2])
        #expect(f.gramMatrices().scalars == [30, 8, 8, 6])
    }

    @Test func gramOfABatchIsOnePerImage() {
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [2, 0, 0, 1]
        let g = Tensor(shape: [2, 1, 2, 2], values: a + b).gramMatrices()
        #expect(g.shape == [2, 1, 1])
        #expect(g.scalars == [30, 5])
    }

    @Test func channelMomentsAreBiasedPerChannel() {
        let x = Tensor(shape: [1, 2, 1, 4], values: [1, 2, 3, 4, 5, 5, 5, 5])
        let (mean, std) = x.channelMoments(eps: 0)
        #expect(mean.scalars == [2.5, 5])
        #expect(abs(std.scalars[0] - Float(1.25).squareRoot()) < 1e-6)
        #expect(std.scalars[1] == 0)
    }

    @Test func softmaxTransformHasMeanOnePerImage() {
        let x = Tensor(shape: [2, 2, 1, 2], values: [0, 1, 2, 3, -1, -1, 4, 0])
        let y = FeatureTransform.softmax(x).scalars
        #expect(abs(y[0..<4].reduce(0, +) - 4) < 1e-5)
        #expect(abs(y[4..<8].reduce(0, +) - 4) < 1e-5)
        // Temperature: the image's standard deviation, sqrt(1.25) for 0, 1, 2, 3.
        #expect(abs(y[1] / y[0] - exp(1 / Float(1.25).squareRoot())) < 1e-4)
        #expect(FeatureTransform.none(x).scalars == x.scalars)
    }

    @Test func recoloringKeepsTheLuminanceAndTheContentColour() {
        var g = SeededGenerator(seed: 3)
        let content = Tensor.uniform([1, 3, 4, 5], in: 0.2...0.8, using: &g)
        // A gray image with the content's own luminance gives the content back.
        let gray = StyleImages.luminance(content)
        let back = StyleImages.recolored(gray, colorOf: content)
        #expect(zip(back.scalars, content.scalars).allSatisfy { abs($0 - $1) < 2e-3 })
        // Matching moves the style's luminance mean and std to the reference's.
        let style = Tensor.uniform([1, 3, 6, 6], in: 0...0.3, using: &g)
        let matched = StyleImages.luminance(style, matching: content).scalars[0..<36]
        let target = StyleImages.luminance(content).scalars[0..<20]
        func mean(_ v: ArraySlice<Float>) -> Float { v.reduce(0, +) / Float(v.count) }
        #expect(abs(mean(matched) - mean(target)) < 1e-4)
    }
}

import Foundation
import Testing
import Fovea
import FoveaFeatures
import FoveaIO
import FoveaModels
import FoveaTensor
import _FoveaTestSupport

@Suite struct FilterGridTests {
    @Test func firstConvolutionIsFoundByForwardOrder() {
        #expect(FilterGrid.firstConvolution(of: EfficientNetLite0(), input: [1, 3, 64, 64]) == "_conv_stem")
        #expect(FilterGrid.firstConvolution(of: ResNet("resnet18")!, input: [1, 3, 64, 64]) == "conv1")
        #expect(FilterGrid.firstConvolution(of: VGG("vgg11")!, input: [1, 3, 64, 64]) == "features.0")
    }

    @Test func rgbTilesScaleEachFilterSymmetricallyAboutZero() {
        // Two 1x1 filters: (R, G, B) = (1, 0, -1) and (0.5, 0.25, 0).
        let w = Tensor(shape: [2, 3, 1, 1], values: [1, 0, -1, 0.5, 0.25, 0])
        let grid = FilterGrid.render(w, tile: 4, columns: 2)
        #expect(grid.width == 2 * 4 + 3 * 2 && grid.height == 4 + 2 * 2)       // 2 tiles of 4 px, padding 2
        let first = (0..<3).map { grid[x: 2, y: 2, c: $0] }
        #expect(first == [255, 128, 0])
        let second = (0..<3).map { grid[x: 2 + 4 + 2, y: 2, c: $0] }
        #expect(second == [255, 191, 128])                                     // 0.25/0.5 -> 0.75 -> 191
        let shared = FilterGrid.render(w, sharedScale: true, tile: 4, columns: 2)
        #expect((0..<3).map { shared[x: 8, y: 2, c: $0] } == [191, 159, 128])  // scaled by 1, not 0.5
    }

    @Test func deeperLayersGetOneGrayscaleTilePerInputChannel() {
        let w = Tensor(shape: [4, 5, 3, 3], values: (0..<180).map { Float($0 % 7) - 3 })
        let grid = FilterGrid.render(w, maxInputs: 2, tile: 9)
        // 4 rows (filters) x 2 columns (input channels), 9-px tiles, padding 1.
        #expect(grid.width == 2 * 9 + 3 && grid.height == 4 * 9 + 5)
        #expect(grid[x: 1, y: 1, c: 0] == grid[x: 1, y: 1, c: 1])                // gray
    }
}

@Suite struct ActivationTests {
    @Test func channelsAreRankedByMeanActivation() throws {
        let classifier = try Pretrained.efficientNet.get()
        let x = classifier.preprocessing.normalize(try Golden.image("chelsea_input.png"))
        let a = try classifier.activations(x, layer: "_blocks.10")
        #expect(a.maps.shape == [112, 14, 14])
        // Same values as the PyTorch forward hook.
        let expected = try Golden.npy("chelsea_blocks10.npy")
        #expect(maxAbsDifference(a.maps.scalars, expected.scalars) <= 1e-3)
        let means = a.ranking.map(\.mean)
        #expect(means == means.sorted(by: >))
        let c = a.ranking[0].channel
        let plane = Array(expected.scalars[(c * 196)..<((c + 1) * 196)])
        #expect(abs(plane.reduce(0, +) / 196 - a.ranking[0].mean) < 1e-4)
        let grid = a.grid(top: 9, tile: 28)
        #expect(grid.width == 3 * 28 + 4 * 3 && grid.height == 3 * 28 + 4 * 3)
    }

    @Test func nonSpatialLayersAreRefused() throws {
        let classifier = try Pretrained.efficientNet.get()
        let x = classifier.preprocessing.normalize(try Golden.image("chelsea_input.png"))
        let error = #expect(throws: FoveaError.self) { try classifier.activations(x, layer: "_fc") }
        #expect(error?.description.contains("--layer _fc") == true)
    }
}

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

@Suite struct ReceptiveFieldTests {
    /// Published receptive fields: VGG-16 conv5_3 196 px and pool5 212 px; ResNet-18's last
    /// stage 435 px; EfficientNet's stem 3x3 stride 2 with TF "SAME" padding (0 before at 224).
    @Test func knownReceptiveFields() throws {
        let vgg = try ImageClassifier.load("vgg16")
        let conv53 = try vgg.receptiveField(of: "features.28")
        #expect(conv53.size == (196, 196) && conv53.jump == (16, 16))
        let pool5 = try vgg.receptiveField(of: "features.30")
        #expect(pool5.size == (212, 212) && pool5.jump == (32, 32))
        let resnet = try ImageClassifier.load("resnet18")
        let layer4 = try resnet.receptiveField(of: "layer4")
        #expect(layer4.size == (435, 435) && layer4.jump == (32, 32))
        let effnet = try Pretrained.efficientNet.get()
        let stem = try effnet.receptiveField(of: "_conv_stem")
        #expect(stem == ReceptiveField(size: (3, 3), jump: (2, 2), start: (0, 0)))
        #expect(throws: FoveaError.self) { try effnet.receptiveField(of: "_fc") }
    }

    /// A batch norm, ReLU and max pool fused into one primitive (in training and in eval) keep
    /// the pool's window: fashion-cnn's features see 10 x 10 pixels every 4, from -3.
    @Test func fusedPoolingKeepsItsWindow() throws {
        let model = FashionCNN(), features = try #require(model.module(at: "features"))
        func field() throws -> (ReceptiveField, String?) {
            let x = Tensor(zeros: [2, 1, 28, 28])
            x.requiresGrad = true
            let y = features(x)
            return (try ReceptiveField.of(y, from: x), y.node?.primitive.name)
        }
        model.train()
        let (training, trainingOp) = try field()
        model.eval()
        model.setRequiresGrad(false)
        let (eval, evalOp) = try field()
        #expect(trainingOp == "batchNormTrainClampMaxPool" && evalOp == "batchNormClampMaxPool")
        let expected = ReceptiveField(size: (10, 10), jump: (4, 4), start: (-3, -3))
        #expect(training == expected && eval == expected)
    }

    @Test func topPatchesKeepTheStrongestImagePerChannel() throws {
        let classifier = try Pretrained.efficientNet.get()
        let paths = ["chelsea_input.png", "coffee_input.png", "astronaut_input.png"].map { Golden.folder.appendingPathComponent($0).path }
        let result = try TopPatches.find(classifier, dataset: ImageFiles(paths), layer: "_blocks.4", channels: [3, 7], k: 2, crop: .none, batch: 2)
        #expect(result.hits.map(\.channel) == [3, 7])
        for (channel, hits) in result.hits {
            #expect(hits.count == 2 && hits[0].value >= hits[1].value)
            // The best hit is the maximum of that channel over the images that won.
            let x = classifier.preprocessing.normalize(try Image.load(path: paths[hits[0].image]))
            let maps = try classifier.activations(x, layer: "_blocks.4").maps
            let plane = Array(maps.scalars[(channel * 28 * 28)..<((channel + 1) * 28 * 28)])
            #expect(abs(plane.max()! - hits[0].value) <= 1e-5 * max(abs(hits[0].value), 1))     // batched vs single pass
            #expect(hits[0].window.height == result.field.size.h)
        }
        #expect(throws: FoveaError.self) { try TopPatches.find(classifier, dataset: ImageFiles(paths), layer: "_blocks.4", channels: [99], crop: .none) }
    }
}

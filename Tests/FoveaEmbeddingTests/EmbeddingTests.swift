import Foundation
import Testing
import Fovea
@testable import FoveaEmbedding
import FoveaIO
import FoveaNN
import FoveaTensor
import _FoveaTestSupport

@Suite struct PCATests {
    /// Points along two known orthogonal directions with spreads 10 and 3, plus small noise.
    @Test func recoversKnownComponentsAndVariances() throws {
        let d = 20
        var g = SeededGenerator(seed: 4)
        var e1 = [Float](repeating: 0, count: d), e2 = e1
        e1[3] = 0.6; e1[7] = 0.8                     // unit vectors, orthogonal
        e2[3] = -0.8; e2[7] = 0.6
        let a = Tensor.normal([500], std: 10, using: &g).scalars, b = Tensor.normal([500], std: 3, using: &g).scalars
        let noise = Tensor.normal([500, d], std: 0.01, using: &g).scalars
        let x = Tensor(shape: [500, d], values: (0..<(500 * d)).map { i in
            let (r, c) = (i / d, i % d)
            return 5 + a[r] * e1[c] + b[r] * e2[c] + noise[i]
        })
        let pca = try PCA(x, components: 2)
        let comps = pca.components.scalars
        let dot1 = zip(comps[0..<d], e1).reduce(0) { $0 + $1.0 * $1.1 }
        let dot2 = zip(comps[d..<(2 * d)], e2).reduce(0) { $0 + $1.0 * $1.1 }
        #expect(abs(abs(dot1) - 1) < 1e-4 && abs(abs(dot2) - 1) < 1e-4)
        // Sample variances of the generating coefficients.
        func variance(_ v: [Float]) -> Float { let m = v.reduce(0, +) / Float(v.count); return v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Float(v.count - 1) }
        #expect(abs(pca.variances[0] - variance(a)) / variance(a) < 1e-3)
        #expect(abs(pca.variances[1] - variance(b)) / variance(b) < 1e-2)
        let coords = pca.transform(x)
        #expect(coords.shape == [500, 2])
    }

    @Test func badInputIsAnError() {
        #expect(throws: FoveaError.self) { try PCA(Tensor(zeros: [1, 4]), components: 2) }
        #expect(throws: FoveaError.self) { try PCA(Tensor(zeros: [5, 4]), components: 5) }
    }
}

@Suite struct NearestNeighborTests {
    @Test(arguments: [NearestNeighbors.Metric.cosine, .l2])
    func exactSearchAgreesWithBruteForce(_ metric: NearestNeighbors.Metric) {
        var g = SeededGenerator(seed: 9)
        let index = Tensor.normal([200, 16], using: &g), queries = Tensor.normal([5, 16], using: &g)
        let nn = NearestNeighbors(index: index, metric: metric)
        let found = nn.search(queries, k: 7)
        let (x, q) = (index.scalars, queries.scalars)
        for i in 0..<5 {
            let qi = Array(q[(i * 16)..<((i + 1) * 16)])
            let brute = (0..<200).map { j -> (Int, Double) in
                let xj = Array(x[(j * 16)..<((j + 1) * 16)])
                switch metric {
                case .l2: return (j, zip(qi, xj).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }.squareRoot())
                case .cosine:
                    let dot = zip(qi, xj).reduce(0.0) { $0 + Double($1.0 * $1.1) }
                    let nq = qi.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot(), nx = xj.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()
                    return (j, 1 - dot / (nq * nx))
                }
            }.sorted { $0.1 < $1.1 }.prefix(7)
            #expect(found[i].map(\.row) == brute.map(\.0))
            for (f, b) in zip(found[i], brute) { #expect(abs(Double(f.distance) - b.1) < 1e-4) }
        }
        // Other query blocks give the same; skipping each query's nearest row leaves the rest.
        #expect(nn.search(queries, k: 7, block: 2).map { $0.map(\.row) } == found.map { $0.map(\.row) })
        let skipping = nn.search(queries, k: 6, exclude: found.map { $0[0].row })
        #expect(skipping.map { $0.map(\.row) } == found.map { $0.dropFirst().map(\.row) })
        let none = nn.search(queries, k: 0)
        #expect(none.count == 5 && none.allSatisfy { $0.isEmpty })
    }

    @Test func precisionAtKOnSeparatedClusters() {
        // Two tight clusters far apart: every neighbour shares the label.
        var g = SeededGenerator(seed: 2)
        let noise = Tensor.normal([40, 8], std: 0.01, using: &g).scalars
        let x = Tensor(shape: [40, 8], values: (0..<320).map { i in (i / 8 < 20 ? (i % 8 == 0 ? 5 : 0) : (i % 8 == 1 ? 5 : 0)) + noise[i] })
        let labels = (0..<40).map { $0 < 20 ? 0 : 1 }
        #expect(NearestNeighbors(index: x, metric: .l2).precisionAtK(labels: labels, k: 5) == 1)
        let shuffled = labels.enumerated().map { $0.offset % 2 }
        #expect(NearestNeighbors(index: x, metric: .l2).precisionAtK(labels: shuffled, k: 5) < 0.7)
    }
}

@Suite struct EmbedTests {
    @Test func defaultLayerIsWhatTheClassifierSees() throws {
        let classifier = try Pretrained.efficientNet.get()
        let path = Golden.folder.appendingPathComponent("chelsea_input.png").path
        let features = try classifier.embed([path, path], crop: .none, batch: 2)
        #expect(features.shape == [2, 1280])
        // fc(features) are the logits PyTorch computed.
        let fc = try #require(classifier.module.module(at: "_fc") as? Linear)
        let logits = withNoGrad { features.slice(axis: 0, 0..<1).linear(weight: fc.weight, bias: fc.bias) }
        #expect(maxAbsDifference(logits.scalars, try Golden.npy("chelsea_logits.npy").scalars) <= 1e-3)
        let conv = try classifier.embed([path], layer: "_blocks.10", crop: .none)
        #expect(conv.shape == [1, 112])                                   // spatially averaged
        #expect(throws: UnknownLayerError.self) { try classifier.embed([path], layer: "_blocks.99") }
    }

    @Test func foldersWithClassSubfoldersGiveLabels() throws {
        let root = Scratch.url("fovea-folder")
        for (cls, names) in [("cats", ["a.png", "b.png"]), ("cups", ["c.png"])] {
            let dir = root.appendingPathComponent(cls)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for n in names { try Image(width: 4, height: 4).save(path: dir.appendingPathComponent(n).path) }
        }
        let folder = try ImageFolder(root.path)
        #expect(folder.classNames == ["cats", "cups"])
        #expect(folder.labels == [0, 0, 1])
        #expect(folder.paths.map { URL(fileURLWithPath: $0).lastPathComponent } == ["a.png", "b.png", "c.png"])
        #expect(throws: FoveaError.self) { try ImageFolder(root.appendingPathComponent("nothing").path) }
    }
}

@Suite struct MapFigureTests {
    @Test func imageMapShowsThePointNearestEachCellCentre() throws {
        // Points at the four corners and one near the centre of a 2x2 grid's top-left cell.
        let coords = Tensor(shape: [5, 2], values: [0, 1, 1, 1, 0, 0, 1, 0, 0.2, 0.8])
        var drawn: [Int] = []
        let image = MapFigure.imageMap(coords, thumbnail: { i in
            drawn.append(i)
            return Image(width: 4, height: 4, channels: 3, color: [UInt8(40 * i), 0, 0])
        }, grid: 2, cell: 10)
        #expect(image.width == 20 && image.height == 20)
        // Top-left cell: point 4 (nearer its centre than the corner point 0) wins.
        #expect(Set(drawn) == [1, 2, 3, 4])
        #expect(image[x: 5, y: 5, c: 0] == 160)
    }

    @Test func scatterDrawsEveryPointInItsClassColour() {
        let coords = Tensor(shape: [3, 2], values: [0, 0, 1, 1, 0.5, 0.5])
        let image = MapFigure.scatter(coords, labels: [0, 1, 2], size: 100)
        #expect(image.width == 260 && image.height == 100)
        // Point 1 (1, 1) is drawn at the top right: tab10 orange.
        #expect((0..<3).map { image[x: 87, y: 12, c: $0] } == [255, 127, 14])
    }

    @Test func ticksAreRoundNumbersInsideTheRange() {
        #expect(MapFigure.niceTicks(0, 10) == [0, 2, 4, 6, 8, 10])
        #expect(MapFigure.niceTicks(-73, 81) == [-50, 0, 50])
        let small = MapFigure.niceTicks(0.013, 0.061), expected: [Float] = [0.02, 0.03, 0.04, 0.05, 0.06]
        #expect(small.count == expected.count && zip(small, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "\(small)")
    }

    /// --axes: the plot moves right and up by the axis margins, keeps its points, and gets a frame.
    @Test func scatterAxesFrameThePlot() {
        let coords = Tensor(shape: [3, 2], values: [0, 0, 1, 1, 0.5, 0.5])
        let image = MapFigure.scatter(coords, labels: [0, 1, 2], size: 100, axes: ("x", "y"), title: "a title")
        let top = image.height - 100 - 44
        #expect(image.width == 64 + 260 && top > 10)
        #expect((0..<3).map { image[x: 64 + 87, y: top + 12, c: $0] } == [255, 127, 14])
        #expect((0..<3).map { image[x: 64 + 50, y: top + 99, c: $0] } == [60, 60, 60])       // the frame's bottom edge
        #expect((0..<3).map { image[x: 64 + 50, y: top + 50, c: $0] } != [60, 60, 60])
    }
}

/// A map 10 wide and 1 tall stays 10:1 in the picture (x and y were stretched separately).
@Test func mapPlacementKeepsTheAspectRatio() {
    let coords = Tensor(shape: [3, 2], values: [0, 0, 10, 1, 5, 0.5])
    let p = MapFigure.place(coords, size: 501, margin: 0)
    let (width, height) = (p[1].x - p[0].x, p[0].y - p[1].y)
    #expect(width == 500 && abs(height - 50) <= 1, "\(width) x \(height)")
    #expect(abs(p[2].y - 250) <= 1, "the shorter axis is centred")
}

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

    /// The approximate methods on the same data, judged by the exact KL (full P): Barnes-Hut no
    /// worse than scikit-learn's Barnes-Hut (0.711), FFT within 2% of it (its interpolation
    /// error costs about 1% at this size: 0.717); both with the same 10-NN bar.
    @Test(arguments: [(TSNE.Method.barnesHut, Float(0.711)), (.fft, 0.711 * 1.02)])
    func approximateMethodsOnDigits(_ method: TSNE.Method, klBar: Float) throws {
        let url = Pretrained.workspace.cache.appendingPathComponent("datasets/digits.csv")
        let (pixels, labels) = try Digits.load(url)
        var tsne = TSNE()
        tsne.method = method
        let result = try tsne.fit(pixels)
        #expect(result.method == method)
        let exactP = try TSNE.affinities(pixels, perplexity: 30)
        let kl = TSNE.kl(result.coordinates.scalars, exactP, n: 1797)
        #expect(kl <= klBar, "exact KL of the \(method.rawValue) map \(kl)")
        #expect(knnCrossValidation(result.coordinates.scalars, labels, k: 10, folds: 5) >= 0.97)
    }

    /// A random start is reproducible by seed, differs between seeds, and still separates the digits.
    @Test func randomInitializationFollowsTheSeed() throws {
        let url = Pretrained.workspace.cache.appendingPathComponent("datasets/digits.csv")
        let (pixels, labels) = try Digits.load(url)
        var tsne = TSNE()
        (tsne.initialization, tsne.iterations, tsne.seed) = (.random, 400, 3)
        let a = try tsne.fit(pixels), b = try tsne.fit(pixels)
        tsne.seed = 4
        let c = try tsne.fit(pixels)
        #expect(a.coordinates.scalars == b.coordinates.scalars)
        #expect(a.coordinates.scalars != c.coordinates.scalars)
        #expect(knnCrossValidation(a.coordinates.scalars, labels, k: 10, folds: 5) >= 0.95)
    }

    @Test func sparseAffinitiesAreSymmetricAndSumToOne() throws {
        var g = SeededGenerator(seed: 3)
        let x = Tensor.normal([200, 6], using: &g)
        let p = TSNE.sparseAffinities(x, perplexity: 5)
        #expect(abs(p.values.reduce(0, +) - 1) < 1e-4)
        var dense = [Float](repeating: 0, count: 200 * 200)
        for i in 0..<200 {
            let columns = p.columns[p.rowStart[i]..<p.rowStart[i + 1]].map { Int($0) }
            #expect(columns == columns.sorted() && Set(columns).count == columns.count && !columns.contains(i))
            for e in p.rowStart[i]..<p.rowStart[i + 1] { dense[i * 200 + Int(p.columns[e])] = p.values[e] }
        }
        for i in 0..<200 { for j in 0..<i { #expect(dense[i * 200 + j] == dense[j * 200 + i]) } }
    }

    /// theta = 0 opens every cell: the Barnes-Hut sums equal brute force; theta = 0.5 stays close.
    @Test func quadTreeSumsMatchBruteForce() {
        var g = SeededGenerator(seed: 11)
        let points = Tensor.normal([500], using: &g).scalars.map { $0 * 5 }      // 250 points
        let tree = QuadTree(points)
        for i in stride(from: 0, to: 250, by: 17) {
            let (x, y) = (points[2 * i], points[2 * i + 1])
            var (z, fx, fy) = (0.0, 0.0, 0.0)
            for j in 0..<250 {
                let (dx, dy) = (Double(x - points[2 * j]), Double(y - points[2 * j + 1]))
                let w = 1 / (1 + dx * dx + dy * dy)
                (z, fx, fy) = (z + w, fx + w * w * dx, fy + w * w * dy)
            }
            let exact = tree.repulsion(x: x, y: y, theta: 0)
            #expect(abs(Double(exact.z) - z) < 1e-4 * z)
            #expect(abs(Double(exact.fx) - fx) < 1e-4 * max(abs(fx), 1) && abs(Double(exact.fy) - fy) < 1e-4 * max(abs(fy), 1))
            let approximate = tree.repulsion(x: x, y: y, theta: 0.5)
            #expect(abs(Double(approximate.z) - z) < 0.02 * z)
        }
    }

    /// FIt-SNE's interpolation against brute force in Double on a spread-out map (1500 points
    /// over some 80 units): at FIt-SNE's box width (1) Z within 0.3% and the forces within 6%
    /// (root mean square, relative), the method's own accuracy; with boxes 4x narrower, the
    /// interpolation error (third order in the node spacing) falls below 1e-4 and 1e-3.
    @Test(arguments: [Float(12), 9.3])
    func fftRepulsionMatchesBruteForce(scale: Float) {
        var g = SeededGenerator(seed: 12)
        let points = Tensor.normal([3000], using: &g).scalars.map { $0 * scale }
        let n = 1500
        var exactZ = 0.0
        var exact = [Double](repeating: 0, count: 2 * n)
        for i in 0..<n {
            for j in 0..<n where j != i {
                let (dx, dy) = (Double(points[2 * i] - points[2 * j]), Double(points[2 * i + 1] - points[2 * j + 1]))
                let w = 1 / (1 + dx * dx + dy * dy)
                exactZ += w
                exact[2 * i] += w * w * dx
                exact[2 * i + 1] += w * w * dy
            }
        }
        let norm = exact.reduce(0) { $0 + $1 * $1 }
        for (width, zBar, forceBar) in [(Float(1), 3e-3, 6e-2), (0.25, 1e-4, 1e-3)] {
            let (forces, z) = FFTRepulsion(boxWidth: width)(points)
            let error = zip(forces, exact).reduce(0.0) { $0 + (Double($1.0) - $1.1) * (Double($1.0) - $1.1) }
            #expect(abs(z - exactZ) < zBar * exactZ, "box width \(width): Z \(z) vs \(exactZ)")
            #expect((error / norm).squareRoot() < forceBar, "box width \(width): relative force error \((error / norm).squareRoot())")
        }
    }

    /// New points land among their own class in a fixed map, and the map does not move.
    @Test func transformPlacesNewDigitsAmongTheirClass() throws {
        let url = Pretrained.workspace.cache.appendingPathComponent("datasets/digits.csv")
        let (pixels, labels) = try Digits.load(url)
        let reference = pixels.slice(axis: 0, 0..<1500), fresh = pixels.slice(axis: 0, 1500..<1797)
        let map = try TSNE().fit(reference).coordinates
        let before = map.scalars
        let placed = try TSNE.Placement().place(fresh, reference: reference, map: map)
        #expect(map.scalars == before)
        #expect(placed.shape == [297, 2])
        let (m, y) = (map.scalars, placed.scalars)
        var correct = 0
        for i in 0..<297 {
            let nearest = (0..<1500).sorted { a, b in
                func d(_ j: Int) -> Float { let (dx, dy) = (y[2 * i] - m[2 * j], y[2 * i + 1] - m[2 * j + 1]); return dx * dx + dy * dy }
                return d(a) < d(b)
            }.prefix(10)
            var votes = [Int: Int]()
            for j in nearest { votes[labels[j], default: 0] += 1 }
            if votes.max(by: { $0.value < $1.value })!.key == labels[1500 + i] { correct += 1 }
        }
        #expect(Float(correct) / 297 >= 0.9, "\(correct) of 297 placed among their class")
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

@testable import Fovea
@testable import FoveaAdversarial
@testable import FoveaAttribution
@testable import FoveaCLI
import FoveaEmbedding
@testable import FoveaFeatures
import FoveaIO
import FoveaTensor
import Testing

/// Layout of the figures: worst-case text (wide glyphs, too long) stays inside the box its
/// figure gives it. Each test draws the figure twice, with the text and with it empty, and
/// checks where the two differ.
@Suite struct FigureLayoutTests {
    /// The smallest box holding every pixel where `a` and `b` differ (nil: identical).
    func changedBox(_ a: Image, _ b: Image) -> (x: ClosedRange<Int>, y: ClosedRange<Int>)? {
        precondition(a.width == b.width && a.height == b.height && a.channels == b.channels, "figures of different sizes")
        var (x0, x1, y0, y1) = (Int.max, Int.min, Int.max, Int.min)
        for y in 0..<a.height {
            for x in 0..<a.width where (0..<a.channels).contains(where: { a[x: x, y: y, c: $0] != b[x: x, y: y, c: $0] }) {
                (x0, x1, y0, y1) = (min(x0, x), max(x1, x), min(y0, y), max(y1, y))
            }
        }
        return x0 == Int.max ? nil : (x0...x1, y0...y1)
    }

    static let wide = String(repeating: "W", count: 60)

    /// Every text drawn anywhere in `image` (pasted sub-figures included) whose laid-out box
    /// leaves the canvas it was drawn on: described, for the failure message.
    func textOutsideItsCanvas(_ image: Image, path: String = "figure") -> [String] {
        var found: [String] = []
        for op in image.drawing ?? [] {
            switch op {
            case .text(let text, let x, let y, _, let scale):
                let size = Image.textSize(text, scale: scale)
                if x < 0 || y < 0 || x + size.width > image.width || y + size.height > image.height {
                    found.append("\(path): \"\(text)\" at (\(x), \(y)), \(size.width)x\(size.height), on \(image.width)x\(image.height)")
                }
            case .image(let inner, let x, let y):
                found += textOutsideItsCanvas(inner, path: "\(path) > panel at (\(x), \(y))")
            default: break
            }
        }
        return found
    }
    let crop = Image(width: 224, height: 224, channels: 3, color: [120, 140, 160])

    /// classify: a label never runs into its bar (the label column is 230 px from the crop).
    @Test func predictionLabelsStayLeftOfTheirBars() {
        func figure(_ label: String) -> Image {
            PredictionFigure.render(crop: crop, top: [Prediction.Entry(index: 0, label: label, probability: 0.5)])
        }
        let box = changedBox(figure(Self.wide), figure(""))
        let x0 = 224 + 2 * 12
        #expect(box != nil)
        #expect(box!.x.lowerBound >= x0 && box!.x.upperBound < x0 + 230, "label drawn over \(box!.x)")
    }

    /// attack: each caption stays under its own panel (panels are 224 px with 44 px gaps).
    @Test func attackCaptionsStayUnderTheirPanels() {
        let noise = Tensor(zeros: [1, 3, 224, 224])
        func figure(_ before: String, _ after: String) -> Image {
            AttackFigure.render(original: crop, adversarial: crop, perturbation: noise, epsilon: 2 / 255, before: before, after: after)
        }
        let empty = figure("", "")
        let before = changedBox(figure(Self.wide, ""), empty)!, after = changedBox(figure("", Self.wide), empty)!
        #expect(before.x.upperBound < 10 + 224 + 44, "the original's caption reaches x = \(before.x.upperBound)")
        #expect(after.x.upperBound < empty.width, "the adversarial caption is cut at the figure's edge (\(after.x))")
        #expect(after.x.lowerBound >= 10 + 2 * (224 + 44))
    }

    /// saliency: the caption stays above the overlay and inside the figure.
    @Test func saliencyCaptionStaysAboveTheOverlay() {
        let map = SaliencyMap(values: (0..<49).map(Float.init), height: 7, width: 7, method: "gradcam", layer: "l", target: 0)
        let with = SaliencyFigure.render(crop: crop, map: map, caption: Self.wide)
        let box = changedBox(with, SaliencyFigure.render(crop: crop, map: map, caption: ""))!
        #expect(box.y.upperBound < 8 + 22, "caption reaches y = \(box.y.upperBound), the overlay starts at 30")
        #expect(box.x.upperBound < with.width - 1)
    }

    /// map: legend names stay inside the figure's right edge.
    @Test func mapLegendFitsTheFigure() throws {
        let coords = Tensor(shape: [4, 2], values: [0, 0, 1, 0, 0, 1, 1, 1])
        let with = MapFigure.scatter(coords, labels: [0, 1, 0, 1], classNames: [Self.wide, "b"], size: 200)
        let box = changedBox(with, MapFigure.scatter(coords, labels: [0, 1, 0, 1], classNames: ["", "b"], size: 200))!
        #expect(box.x.upperBound < with.width - 1, "legend name reaches the edge (\(box.x), figure \(with.width) wide)")
    }

    /// robustness: the last marker (accuracy 1 at the largest epsilon, the plot's corner) is
    /// whole, and a long title is fitted, not cut at the edge.
    @Test func robustnessMarkersAndTitleStayInside() {
        func curve(_ images: Int, _ reference: String) -> RobustnessCurve {
            RobustnessCurve(method: "pgd", epsilons: [0, 4 / 255, 16 / 255], accuracies: [0.5, 0.2, 1], images: images,
                            reference: reference, seconds: 1)
        }
        let plot = RobustnessPlot.render(curve(1, ""), labels: ["0", "4/255", "16/255"])
        let red: [UInt8] = [214, 39, 40]
        let markers = (0..<plot.height).flatMap { y in (0..<plot.width).map { (x: $0, y: y) } }
            .filter { p in (0..<3).allSatisfy { plot[x: p.x, y: p.y, c: $0] == red[$0] } }
        #expect(markers.count == 3 * 36, "three whole 6x6 markers, found \(markers.count) red pixels")
        #expect(markers.map(\.x).max()! < plot.width - 8 && markers.map(\.y).min()! > 30)
        let long = RobustnessPlot.render(curve(100_000, "clean predictions, 10 classes"), labels: ["0", "4/255", "16/255"])
        let box = changedBox(long, plot)!
        #expect(box.x.upperBound < plot.width - 2 && box.y.upperBound < 40, "title \(box)")
    }

    /// sanity: a long layer name stays under its own 128 px panel.
    @Test func sanityCaptionsStayUnderTheirPanels() {
        let map = SaliencyMap(values: (0..<49).map(Float.init), height: 7, width: 7, method: "gradcam", layer: "l", target: 0)
        func figure(_ layer: String) -> Image {
            SanityFigure.render(crop: crop, original: map, steps: [SanityStep(layer: layer, spearman: 0.25, map: map)], method: "gradcam")
        }
        let box = changedBox(figure("features." + Self.wide), figure(""))!
        let panel = 6 + 2 * (SanityFigure.panelSize + 6)
        #expect(box.x.lowerBound >= panel && box.x.upperBound < panel + SanityFigure.panelSize, "caption spans \(box.x)")
    }

    /// synthesis grids: a cell widens to its caption, so captions never run into the next tile.
    @Test func captionedGridCellsFitTheirCaptions() {
        let tile = Image(width: 64, height: 64, channels: 3, color: [10, 20, 30])
        let caption = "channel 1234, step 512\nloss -12.345"
        let grid = captionedGrid([tile, tile, tile], captions: [caption, "a", "b"], columns: 3)
        let cell = max(64, Image.textSize(caption).width + 4)
        #expect(grid.width == 4 * 6 + 3 * cell)
        #expect(grid.height == 2 * 6 + 64 + 4 + 2 * 12)
    }

    /// explain: a long file name widens the figure instead of being cut; each panel's caption
    /// and scores stay in the panel.
    @Test func explanationHeaderAndCaptionsFit() {
        let map = SaliencyMap(values: (0..<49).map(Float.init), height: 7, width: 7, method: "gradcam", layer: "l", target: 0)
        let score = Faithfulness(baseline: .blur, deletionAUC: 0.123, insertionAUC: 0.987, deletionCurve: [], insertionCurve: [])
        let entries = AttributionMethod.allCases.prefix(3).map {
            Explanation.Entry(attribution: Attribution(method: $0, map: map, integrated: nil), faithfulness: score, seconds: 0.1)
        }
        func figure(_ file: String) -> Image {
            Explanation(file: file, model: "efficientnet-lite0", crop: crop, target: 282, label: "tiger cat", probability: 0.385,
                        top: [], entries: entries, skipped: []).grid()
        }
        let short = figure("a.png"), long = figure(Self.wide + Self.wide + ".png")
        #expect(long.width > short.width && long.height == short.height)
        #expect(textOutsideItsCanvas(long).isEmpty, "\(textOutsideItsCanvas(long))")
    }

    /// top-patches: channel labels and activation values stay inside their 64 px cells; the
    /// grid is k + 1 cells wide, one row per channel.
    @Test func topPatchesCellsHoldTheirLabels() {
        typealias Hit = TopPatches.Hit
        let hits: [(channel: Int, hits: [Hit])] = [
            (123_456, [Hit(image: 0, value: -1234.5, window: (y: 0, x: 0, height: 10, width: 10)),
                       Hit(image: 0, value: 3.25e-7, window: (y: -4, x: -4, height: 10, width: 10))]),
            (7, [Hit(image: 0, value: 12.5, window: (y: 2, x: 2, height: 40, width: 40))]),
        ]
        let result = TopPatches(layer: "l", field: ReceptiveField(size: (10, 10), jump: (1, 1), start: (0, 0)), hits: hits)
        let grid = result.grid({ _ in Image(width: 32, height: 32, channels: 3, color: [200, 200, 200]) }, tile: 64)
        #expect(grid.width == 3 * 64 + 4 * 2 && grid.height == 2 * 64 + 3 * 2)
        #expect(textOutsideItsCanvas(grid).isEmpty, "\(textOutsideItsCanvas(grid))")
    }

    /// activations: tiles are whole multiples of the map (7x7 -> 91 px), ceil(sqrt(n)) columns,
    /// and each channel label stays on its tile.
    @Test func activationTilesHoldTheirLabels() {
        let maps = Tensor(shape: [10_005, 7, 7], values: (0..<(10_005 * 49)).map { Float($0 % 13) })   // 5-digit labels
        let grid = LayerActivations(layer: "l", maps: maps, ranking: (0..<5).map { (channel: 10_000 + $0, mean: Float(5 - $0)) })
            .grid(top: 5)
        #expect(grid.width == 3 * 91 + 4 * 3 && grid.height == 2 * 91 + 3 * 3)
        #expect(textOutsideItsCanvas(grid).isEmpty, "\(textOutsideItsCanvas(grid))")
    }

    /// Every figure is drawn, not computed: its drawing (what -o fig.svg or fig.pdf replays) is
    /// there and rasterises to the figure's own pixels, text within antialiasing.
    @Test func everyFigureReplaysAsItWasDrawn() throws {
        let map = SaliencyMap(values: (0..<49).map(Float.init), height: 7, width: 7, method: "gradcam", layer: "layer4", target: 0)
        let coords = Tensor(shape: [4, 2], values: [0, 0, 1, 0, 0, 1, 1, 1])
        let curve = RobustnessCurve(method: "fgsm", epsilons: [0, 2 / 255, 8 / 255], accuracies: [0.9, 0.5, 0.1],
                                    images: 100, reference: "labels", seconds: 1)
        let prediction = PredictionFigure.render(crop: crop, top: [Prediction.Entry(index: 281, label: "tabby, tabby cat", probability: 0.62)],
                                                 title: "chelsea.png")
        var g = SeededGenerator(seed: 3)
        let weight = Tensor.uniform([8, 3, 5, 5], in: -1...1, using: &g)
        let figures: [(String, Image)] = [
            ("classify", Image.grid([prediction, prediction], columns: 1, padding: 0)),
            ("saliency", SaliencyFigure.render(crop: crop, map: map, caption: "Grad-CAM layer4 for tabby")),
            ("sanity", SanityFigure.render(crop: crop, original: map, steps: [SanityStep(layer: "fc", spearman: 0.4, map: map)], method: "gradcam")),
            ("attack", AttackFigure.render(original: crop, adversarial: crop, perturbation: Tensor(zeros: [1, 3, 224, 224]),
                                           epsilon: 2 / 255, before: "tabby 0.62", after: "tiger 0.91")),
            ("robustness", RobustnessPlot.render(curve, labels: ["0", "2/255", "8/255"])),
            ("map", MapFigure.scatter(coords, labels: [0, 1, 0, 1], classNames: ["T-shirt", "Trouser"], size: 200,
                                      axes: (x: "PC 1", y: "PC 2"), title: "PCA")),
            ("filters", FilterGrid.render(weight)),
            ("synthesis", captionedGrid([crop, crop], captions: ["channel 3\nloss 1.2", "channel 4"], columns: 2)),
        ]
        var overflowing = Image(width: 40, height: 20, channels: 3, color: [255, 255, 255])
        overflowing.drawText(Self.wide, x: 2, y: 2)
        #expect(textOutsideItsCanvas(prediction).isEmpty && textOutsideItsCanvas(overflowing).count == 1, "the check itself")
        for (name, figure) in figures {
            #expect(textOutsideItsCanvas(figure).isEmpty, "\(name): \(textOutsideItsCanvas(figure))")
            #expect(figure.drawing != nil, "\(name): drawn into pixels directly, so SVG and PDF would only embed a picture")
            let replayed = VectorFigure.rasterize(figure)
            let differences = zip(replayed.pixels, figure.rgb().pixels).map { abs(Int($0) - Int($1)) }
            let mean = Double(differences.reduce(0, +)) / Double(max(differences.count, 1))
            #expect(mean < 0.3, "\(name): the replay differs from the figure by \(mean) on average")
        }
    }
}

@testable import Fovea
import FoveaAdversarial
import FoveaAttribution
import FoveaEmbedding
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
}

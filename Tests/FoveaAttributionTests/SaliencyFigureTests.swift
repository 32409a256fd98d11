import Foundation
import Testing
import FoveaIO
@testable import FoveaAttribution

/// The colour scale tells the truth: signed maps diverge around 0, occlusion's bar reads low to
/// high from the bottom, and the bar sits where the layout puts it.
@Suite struct SaliencyFigureTests {
    let crop = Image(width: 224, height: 224, channels: 3, color: [128, 128, 128])
    /// The bar's colour at its top and bottom rows (it starts at x = 2 * 8 + 224, y = 8 + 22).
    func barEnds(_ figure: Image) -> (top: [UInt8], bottom: [UInt8]) {
        let (x, top) = (2 * 8 + 224 + 8, 8 + 22)
        func rgb(_ y: Int) -> [UInt8] { (0..<3).map { figure[x: x, y: y, c: $0] } }
        return (rgb(top), rgb(top + 223))
    }

    /// A 28 x 28 crop is drawn at 224 px (8x, nearest), so the panel and its labels fit.
    @Test func smallCropsAreEnlarged() {
        let map = SaliencyMap(values: [Float](repeating: 1, count: 16), height: 4, width: 4, method: "gradcam", layer: "l", target: 0)
        let figure = SaliencyFigure.render(crop: Image(width: 28, height: 28, channels: 1, color: [90]), map: map, caption: "gradcam")
        #expect(figure.height >= 224 + 30 && figure.width >= 224 + 40)
    }

    @Test func signedMapsUseADivergingScaleCentredAtZero() {
        let values = (0..<16).map { Float($0 - 8) }                 // -8 ... 7
        let map = SaliencyMap(values: values, height: 4, width: 4, method: "integrated-gradients", layer: nil, target: 0)
        let figure = SaliencyFigure.render(crop: crop, map: map, caption: "ig")
        let ends = barEnds(figure)
        #expect(ends.top == Colormap.coolwarm.color(at: 1) && ends.bottom == Colormap.coolwarm.color(at: 0))
        // Unsigned (absolute) values keep the sequential default.
        let magnitude = SaliencyMap(values: values.map(abs), height: 4, width: 4, method: "gradient", layer: nil, target: 0)
        #expect(barEnds(SaliencyFigure.render(crop: crop, map: magnitude, caption: "g")).top == Colormap.jet.color(at: 1))
        #expect(barEnds(SaliencyFigure.render(crop: crop, map: map, caption: "ig", colormap: .viridis)).top == Colormap.viridis.color(at: 1))
    }

    @Test func occlusionBarReadsLowToHighFromTheBottom() {
        let values = (0..<16).map { Float($0) / 16 }                 // p with the patch in place
        let map = SaliencyMap(values: values, height: 4, width: 4, method: "occlusion", layer: nil, target: 0)
        let ends = barEnds(SaliencyFigure.render(crop: crop, map: map, caption: "occlusion"))
        // Low p (important) is hot, at the bottom, where the smallest label is.
        #expect(ends.bottom == Colormap.jet.color(at: 1) && ends.top == Colormap.jet.color(at: 0))
    }

    @Test func newColourMapsRunDarkToLight() {
        func luminance(_ c: [UInt8]) -> Int { 2 * Int(c[0]) + 7 * Int(c[1]) + Int(c[2]) }
        #expect(luminance(Colormap.inferno.color(at: 0)) < luminance(Colormap.inferno.color(at: 0.5)))
        #expect(luminance(Colormap.inferno.color(at: 0.5)) < luminance(Colormap.inferno.color(at: 1)))
        let middle = Colormap.coolwarm.color(at: 0.5)
        #expect(middle.allSatisfy { $0 > 200 } && Colormap.coolwarm.isDiverging)
    }

    /// `--scale shared`: two maps of one method on the range of both, so the weaker one looks
    /// weaker; on their own ranges both would span the whole colour map.
    @Test func sharedScaleSpansEveryPanel() {
        let weak = SaliencyMap(values: (0..<16).map { Float($0) / 15 }, height: 4, width: 4, method: "gradcam", layer: "l", target: 0)
        let strong = SaliencyMap(values: (0..<16).map { Float($0) * 10 / 15 }, height: 4, width: 4, method: "gradcam", layer: "l", target: 0)
        let shared = SaliencyFigure.range(of: [weak, strong])
        #expect(shared == 0...10)
        let occlusion = [0.2, 0.9].map { p in
            SaliencyMap(values: [Float](repeating: Float(p), count: 15) + [0.5], height: 4, width: 4, method: "occlusion", layer: nil, target: 0)
        }
        #expect(SaliencyFigure.range(of: occlusion) == 0.2...0.9)
        // The weak map's hottest pixel (its bottom-right corner) is drawn at a tenth of the scale.
        func corner(_ figure: Image) -> [UInt8] { (0..<3).map { figure[x: 8 + 223, y: 8 + 22 + 223, c: $0] } }
        let own = SaliencyFigure.render(crop: crop, map: weak, caption: "w", alpha: 1)
        let onShared = SaliencyFigure.render(crop: crop, map: weak, caption: "w", alpha: 1, sharedRange: shared)
        #expect(corner(own) == Colormap.jet.color(at: 1))
        #expect(corner(onShared) != Colormap.jet.color(at: 1))
    }
}

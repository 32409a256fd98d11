import Foundation
import FoveaIO

/// The picture of a saliency map: the map upsampled (bilinear) and overlaid on the crop the
/// network saw, a colour bar with the map's range, and a caption with the class and probability.
public enum SaliencyFigure {
    /// `colormap` nil: jet, or cool-warm for a signed map. Signed pixel maps (Integrated
    /// Gradients, `--signed`) are drawn around 0 with a diverging map; occlusion maps (the
    /// probability left with a patch in place: low is important) are drawn with low values hot
    /// and a bar that reads low to high from the bottom. `sharedRange`: the colour range of
    /// several panels drawn on one scale (``range(of:)`` over their maps), else this map's own.
    public static func render(crop: Image, map: SaliencyMap, caption: String, footnote: String? = nil,
                              colormap: Colormap? = nil, alpha: Float = 0.5, sharedRange: ClosedRange<Float>? = nil) -> Image {
        let look = colouring(map, colormap: colormap, sharedRange: sharedRange)
        let (occlusion, signed, range) = (look.occlusion, look.signed, look.range)
        let clipped = isClipped(map)
        // Bar labels in the map's own units, low at the bottom.
        let (topLabel, bottomLabel) = occlusion ? (-range.lowerBound, -range.upperBound) : (range.upperBound, range.lowerBound)
        let barTitle = occlusion ? "p with patch" : (signed ? (clipped ? "signed, 99% clip" : "signed") : (clipped ? "99th pct clip" : map.method))
            + (sharedRange != nil ? ", shared" : "")
        // Small inputs (28-32 px) are enlarged so the panel and its labels are readable.
        let overlay = look.overlay(on: crop.rgb().enlargedForDisplay(), map: map, alpha: alpha)
        let margin = 8, barWidth = 16
        let captionHeight = 22
        let width = overlay.width + barWidth + 3 * margin + 70
        let footHeight = footnote == nil ? 0 : 12
        let height = overlay.height + captionHeight + footHeight + 2 * margin + 12
        var figure = Image(width: width, height: height, channels: 3, color: [255, 255, 255])
        figure.drawText(Image.fitting(caption, width: width - 2 * margin, scale: 2), x: margin, y: margin, color: [0, 0, 0], scale: 2)
        let top = margin + captionHeight
        figure.paste(overlay, x: margin, y: top)
        let barX = margin * 2 + overlay.width
        figure.paste(look.colormap.bar(width: barWidth, height: overlay.height, vertical: true, reversed: occlusion), x: barX, y: top)
        figure.drawText(String(format: "%.3g", topLabel), x: barX + barWidth + 4, y: top, color: [0, 0, 0])
        if signed { figure.drawText("0", x: barX + barWidth + 4, y: top + overlay.height / 2 - 4, color: [0, 0, 0]) }
        figure.drawText(String(format: "%.3g", bottomLabel), x: barX + barWidth + 4, y: top + overlay.height - 9, color: [0, 0, 0])
        figure.drawText(barTitle, x: barX - 4, y: top + overlay.height + 2, color: [90, 90, 90])
        if let footnote { figure.drawText(Image.fitting(footnote, width: width - 2 * margin), x: margin, y: top + overlay.height + 14, color: [60, 60, 60]) }
        return figure
    }

    /// The map alone, coloured and upsampled (bilinear) to `width` x `height`, for a viewer that
    /// blends it over the crop itself; with the colour map and range it was drawn with (the
    /// range in the overlay's units: occlusion negated, so low probability is hot).
    public static func heatLayer(_ map: SaliencyMap, width: Int, height: Int, colormap: Colormap? = nil)
        -> (image: Image, colormap: Colormap, range: ClosedRange<Float>, reversed: Bool) {
        let look = colouring(map, colormap: colormap)
        let black = Image(width: width, height: height, channels: 3, color: [0, 0, 0])
        let range = look.occlusion ? -look.range.upperBound ... -look.range.lowerBound : look.range
        return (look.overlay(on: black, map: map, alpha: 1), look.colormap, range, look.occlusion)
    }

    /// How a map is coloured: its colour map (cool-warm for a signed map unless one is given)
    /// and its range as the overlay shows it (occlusion negated: low is hot).
    struct Colouring {
        let colormap: Colormap
        let range: ClosedRange<Float>
        let signed, occlusion: Bool

        /// The map upsampled (bilinear) over `base`.
        func overlay(on base: Image, map: SaliencyMap, alpha: Float) -> Image {
            let heat = FloatMap(width: map.width, height: map.height, values: occlusion ? map.values.map { -$0 } : map.values)
            return base.overlaying(heatmap: heat, colormap: colormap, alpha: alpha, range: range)
        }
    }

    /// `sharedRange`: a range from ``range(of:)`` over several maps, else this map's own.
    static func colouring(_ map: SaliencyMap, colormap: Colormap?, sharedRange: ClosedRange<Float>? = nil) -> Colouring {
        let occlusion = map.method == "occlusion", signed = isSigned([map])
        return Colouring(colormap: colormap ?? (signed ? .coolwarm : .jet),
                         range: shownRange(sharedRange ?? range(of: [map]), occlusion: occlusion), signed: signed, occlusion: occlusion)
    }

    /// Signed pixel maps (Integrated Gradients, `--signed`): drawn around 0.
    static func isSigned(_ maps: [SaliencyMap]) -> Bool {
        guard let first = maps.first else { return false }
        return first.layer == nil && first.method != "occlusion" && maps.contains { $0.values.contains { $0 < 0 } }
    }

    /// Pixel-space maps are sparse with a few extreme values: their colour scale is clipped at
    /// the 99th percentile (of |value| for signed maps) so the structure shows; the .npy keeps
    /// the raw values.
    static func isClipped(_ map: SaliencyMap) -> Bool {
        map.layer == nil && map.method != "occlusion" && map.values.count > 100
    }

    /// The colour range of these maps' values pooled, in their own units: what `render` gives
    /// one map, and for several maps of one method the scale they share (`--scale shared`).
    /// Signed maps get -m...m, m the (clipped) largest |value|.
    public static func range(of maps: [SaliencyMap]) -> ClosedRange<Float> {
        guard let first = maps.first else { return 0...1 }
        let values = maps.flatMap(\.values)
        let clipped = maps.allSatisfy(isClipped)
        if first.method == "occlusion" {
            return (values.min() ?? 0)...max(values.max() ?? 1, (values.min() ?? 0) + 1e-6)
        }
        if isSigned(maps) {
            let magnitudes = values.map(Swift.abs).sorted()
            let m = clipped ? magnitudes[magnitudes.count * 99 / 100] : (magnitudes.last ?? 1)
            return m > 0 ? -m...m : -1...1
        }
        let sorted = values.sorted()
        let lo = sorted.first ?? 0
        let hi = clipped ? sorted[sorted.count * 99 / 100] : (sorted.last ?? 0)
        return lo < hi ? lo...hi : lo...(lo + 1)
    }

    /// A range in map units as the overlay shows it: occlusion maps negated (low is hot).
    static func shownRange(_ r: ClosedRange<Float>, occlusion: Bool) -> ClosedRange<Float> {
        occlusion ? -r.upperBound...(-r.lowerBound) : r
    }
}

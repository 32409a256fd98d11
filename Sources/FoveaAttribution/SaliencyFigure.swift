import Foundation
import FoveaIO

/// The picture of a saliency map: the map upsampled (bilinear) and overlaid on the crop the
/// network saw, a colour bar with the map's range, and a caption with the class and probability.
public enum SaliencyFigure {
    /// `colormap` nil: jet, or cool-warm for a signed map. Signed pixel maps (Integrated
    /// Gradients, `--signed`) are drawn around 0 with a diverging map; occlusion maps (the
    /// probability left with a patch in place: low is important) are drawn with low values hot
    /// and a bar that reads low to high from the bottom.
    public static func render(crop: Image, map: SaliencyMap, caption: String, footnote: String? = nil,
                              colormap: Colormap? = nil, alpha: Float = 0.5, range fixed: ClosedRange<Float>? = nil) -> Image {
        let occlusion = map.method == "occlusion"
        let signed = map.layer == nil && !occlusion && map.values.contains { $0 < 0 }
        let colormap = colormap ?? (signed ? .coolwarm : .jet)
        // Pixel-space maps are sparse with a few extreme values: the colour scale is clipped at
        // the 99th percentile (of |value| for signed maps) so the structure shows; the .npy
        // keeps the raw values.
        let clipped = map.layer == nil && !occlusion && map.values.count > 100
        let shown = occlusion ? map.values.map { -$0 } : map.values
        let range: ClosedRange<Float>
        if let fixed {
            range = occlusion ? -fixed.upperBound...(-fixed.lowerBound) : fixed
        } else if signed {
            let magnitudes = map.values.map(Swift.abs).sorted()
            let m = clipped ? magnitudes[magnitudes.count * 99 / 100] : (magnitudes.last ?? 1)
            range = m > 0 ? -m...m : -1...1
        } else {
            let sorted = shown.sorted()
            let lo = sorted.first ?? 0
            let hi = clipped ? sorted[sorted.count * 99 / 100] : (sorted.last ?? 0)
            range = lo < hi ? lo...hi : lo...(lo + 1)
        }
        let heat = FloatMap(width: map.width, height: map.height, values: shown)
        // Bar labels in the map's own units, low at the bottom.
        let (topLabel, bottomLabel) = occlusion ? (-range.lowerBound, -range.upperBound) : (range.upperBound, range.lowerBound)
        let barTitle = occlusion ? "p with patch" : (signed ? (clipped ? "signed, 99% clip" : "signed") : (clipped ? "99th pct clip" : map.method))
        // Small inputs (28-32 px) are enlarged so the panel and its labels are readable.
        let overlay = crop.rgb().enlargedForDisplay().overlaying(heatmap: heat, colormap: colormap, alpha: alpha, range: range)
        let margin = 8, barWidth = 16
        let captionHeight = 22
        let width = overlay.width + barWidth + 3 * margin + 70
        let footHeight = footnote == nil ? 0 : 12
        let height = overlay.height + captionHeight + footHeight + 2 * margin + 12
        var figure = Image(width: width, height: height, channels: 3, color: [255, 255, 255])
        figure.drawText(String(caption.prefix(40)), x: margin, y: margin, color: [0, 0, 0], scale: 2)
        let top = margin + captionHeight
        figure.paste(overlay, x: margin, y: top)
        let barX = margin * 2 + overlay.width
        figure.paste(colormap.bar(width: barWidth, height: overlay.height, vertical: true, reversed: occlusion), x: barX, y: top)
        figure.drawText(String(format: "%.3g", topLabel), x: barX + barWidth + 4, y: top, color: [0, 0, 0])
        if signed { figure.drawText("0", x: barX + barWidth + 4, y: top + overlay.height / 2 - 4, color: [0, 0, 0]) }
        figure.drawText(String(format: "%.3g", bottomLabel), x: barX + barWidth + 4, y: top + overlay.height - 9, color: [0, 0, 0])
        figure.drawText(barTitle, x: barX - 4, y: top + overlay.height + 2, color: [90, 90, 90])
        if let footnote { figure.drawText(footnote, x: margin, y: top + overlay.height + 14, color: [60, 60, 60]) }
        return figure
    }
}

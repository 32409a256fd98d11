import Foundation
import FoveaIO

/// The picture of a saliency map: the map upsampled (bilinear) and overlaid on the crop the
/// network saw, a colour bar with the map's range, and a caption with the class and probability.
public enum SaliencyFigure {
    public static func render(crop: Image, map: SaliencyMap, caption: String, footnote: String? = nil,
                              colormap: Colormap = .jet, alpha: Float = 0.5) -> Image {
        // Occlusion maps hold the probability left with a patch in place: low = important,
        // so the colours run the other way (the bar is labelled with probabilities).
        let occlusion = map.method == "occlusion"
        // Signed pixel maps (Integrated Gradients, --signed) are shown by magnitude.
        let shown = occlusion ? map.values.map { -$0 } : (map.layer == nil ? map.values.map(Swift.abs) : map.values)
        let heat = FloatMap(width: map.width, height: map.height, values: shown)
        // Pixel-space gradients are sparse with a few extreme values: clip the colour scale at
        // the 99th percentile so the structure shows (the .npy keeps the raw values).
        let sorted = shown.sorted()
        let lo = sorted.first ?? 0
        let hi = map.layer == nil && !occlusion && sorted.count > 100 ? sorted[sorted.count * 99 / 100] : (sorted.last ?? 0)
        let range: ClosedRange<Float> = lo < hi ? lo...hi : lo...(lo + 1)
        let (topLabel, bottomLabel) = occlusion ? (-hi, -lo) : (hi, lo)
        let overlay = crop.rgb().overlaying(heatmap: heat, colormap: colormap, alpha: alpha, range: range)
        let margin = 8, barWidth = 16
        let captionHeight = 22
        let width = overlay.width + barWidth + 3 * margin + 70
        let footHeight = footnote == nil ? 0 : 12
        let height = overlay.height + captionHeight + footHeight + 2 * margin
        var figure = Image(width: width, height: height, channels: 3, color: [255, 255, 255])
        figure.drawText(String(caption.prefix(40)), x: margin, y: margin, color: [0, 0, 0], scale: 2)
        let top = margin + captionHeight
        figure.paste(overlay, x: margin, y: top)
        let barX = margin * 2 + overlay.width
        figure.paste(colormap.bar(width: barWidth, height: overlay.height, vertical: true), x: barX, y: top)
        figure.drawText(String(format: "%.3g", topLabel), x: barX + barWidth + 4, y: top, color: [0, 0, 0])
        figure.drawText(String(format: "%.3g", bottomLabel), x: barX + barWidth + 4, y: top + overlay.height - 8, color: [0, 0, 0])
        if let footnote { figure.drawText(footnote, x: margin, y: top + overlay.height + 4, color: [60, 60, 60]) }
        return figure
    }
}

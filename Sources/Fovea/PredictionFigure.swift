import FoveaIO

/// A picture of a classification: the crop the network saw, and the top classes as bars.
public enum PredictionFigure {
    /// crop | bars: one row per class with its label, bar length proportional to probability.
    public static func render(crop small: Image, top: [Prediction.Entry], title: String? = nil) -> Image {
        let crop = small.enlargedForDisplay()
        let margin = 12, rowHeight = 26, barMax = 220, textScale = 2
        let labelWidth = 230
        let width = crop.width + labelWidth + barMax + 90 + 3 * margin
        let height = max(crop.height, top.count * rowHeight + 40) + 2 * margin
        var figure = Image(width: width, height: height, channels: 3, color: [255, 255, 255])
        figure.paste(crop.rgb(), x: margin, y: margin)
        let x0 = crop.width + 2 * margin
        var y = margin
        if let title {
            figure.drawText(Image.fitting(title, width: width - x0 - margin, scale: textScale), x: x0, y: y, color: [60, 60, 60], scale: textScale)
            y += 30
        }
        for entry in top {
            let name = entry.label.split(separator: ",").first.map(String.init) ?? entry.label
            figure.drawText(Image.fitting(name, width: labelWidth - 8, scale: textScale), x: x0, y: y + 4, color: [0, 0, 0], scale: textScale)
            let p = entry.probability.isFinite ? min(max(entry.probability, 0), 1) : 0
            let bar = max(1, Int(Float(barMax) * p))
            figure.fillRect(x: x0 + labelWidth, y: y + 2, width: bar, height: rowHeight - 8, color: [230, 120, 30])
            figure.drawText(String(format: "%.3f", entry.probability), x: x0 + labelWidth + bar + 6, y: y + 4,
                            color: [0, 0, 0], scale: textScale)
            y += rowHeight
        }
        return figure
    }
}

import Foundation

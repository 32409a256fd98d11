import Foundation
import FoveaIO

/// The picture of the model-parameter randomisation test (Adebayo et al. 2018): the input, the
/// trained model's map, then the map after each cascading step (every layer from the top down
/// to the named one random), each on its own colour range, captioned with the layer and the
/// Spearman rank correlation with the original map. Maps that keep their shape while the model
/// turns to noise explain the image more than the model.
public enum SanityFigure {
    /// Side of each square panel, in pixels.
    public static let panelSize = 128

    /// `colormap` nil: jet, or cool-warm for signed maps (as ``SaliencyFigure``).
    public static func render(crop: Image, original: SaliencyMap, steps: [SanityStep], method: String,
                              colormap: Colormap? = nil, columns: Int = 6) -> Image {
        let base = crop.rgb().resized(width: panelSize, height: panelSize, filter: .bilinear)
        func panel(_ map: SaliencyMap?, _ lines: [String]) -> Image {
            let picture = map.map { SaliencyFigure.colouring($0, colormap: colormap).overlay(on: base, map: $0, alpha: 0.6) } ?? base
            let lineHeight = Image.textSize("Ag").height + 2
            var out = Image(width: panelSize, height: panelSize + lines.count * lineHeight + 4, channels: 3, color: [255, 255, 255])
            out.paste(picture, x: 0, y: 0)
            for (i, line) in lines.enumerated() {
                out.drawText(line, x: 0, y: panelSize + 2 + i * lineHeight, color: i == 0 ? [0, 0, 0] : [70, 70, 70])
            }
            return out
        }
        let panels = [panel(nil, ["input", ""]), panel(original, ["trained model", "ρ = 1"])]
            + steps.map { step in panel(step.map, [Image.fitting("up to " + step.layer, width: panelSize), String(format: "ρ = %+.2f", step.spearman)]) }
        let body = Image.grid(panels, columns: columns, padding: 6)
        let title = "\(method): cascading randomisation from the top (Spearman ρ with the trained map)"
        let titleHeight = Image.textSize(title, scale: 2).height + 12
        var figure = Image(width: max(body.width, Image.textSize(title, scale: 2).width + 12), height: body.height + titleHeight,
                           channels: 3, color: [255, 255, 255])
        figure.drawText(title, x: 6, y: 6, color: [0, 0, 0], scale: 2)
        figure.paste(body, x: 0, y: titleHeight)
        return figure
    }
}

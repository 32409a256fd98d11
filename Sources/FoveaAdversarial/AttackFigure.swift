import Foundation
import FoveaIO
import FoveaTensor

/// The lecture's picture of an adversarial example:
/// original (label, confidence) + epsilon x perturbation (amplified) = adversarial (label, confidence).
public enum AttackFigure {
    public static func render(original: Image, adversarial: Image, perturbation: Tensor, epsilon: Float,
                              before: String, after: String) -> Image {
        // The perturbation, scaled so that +-epsilon spans black...white (0 is mid-gray).
        let amplified = Tensor(shape: perturbation.shape, values: perturbation.scalars.map { 0.5 + 0.5 * $0 / max(epsilon, 1e-12) })
        // Small inputs (28x28 Fashion-MNIST) are enlarged by an integer factor, nearest neighbour.
        func shown(_ image: Image) -> Image { image.rgb().enlargedForDisplay() }
        let (original, adversarial) = (shown(original), shown(adversarial))
        let noise = shown(Image(tensor: amplified, scale: 1 / 255))
        let (w, h) = (original.width, original.height)
        let margin = 10, gap = 44, text = 30
        var figure = Image(width: 3 * w + 2 * gap + 2 * margin, height: h + 2 * text + 2 * margin,
                           channels: 3, color: [255, 255, 255])
        let y = margin + text
        let xs = [margin, margin + w + gap, margin + 2 * (w + gap)]
        figure.paste(original, x: xs[0], y: y)
        figure.paste(noise, x: xs[1], y: y)
        figure.paste(adversarial, x: xs[2], y: y)
        figure.drawText("+", x: xs[1] - gap / 2 - 6, y: y + h / 2 - 8, color: [0, 0, 0], scale: 3)
        figure.drawText("=", x: xs[2] - gap / 2 - 6, y: y + h / 2 - 8, color: [0, 0, 0], scale: 3)
        figure.drawText("x", x: xs[0], y: margin, color: [0, 0, 0], scale: 2)
        figure.drawText(String(format: "perturbation, +-%.3g/255", epsilon * 255), x: xs[1], y: margin, color: [0, 0, 0], scale: 1)
        figure.drawText("x + perturbation", x: xs[2], y: margin, color: [0, 0, 0], scale: 1)
        figure.drawText(Image.fitting(before, width: w + gap - 4), x: xs[0], y: y + h + 8, color: [0, 0, 0], scale: 1)
        figure.drawText(Image.fitting(after, width: w + margin - 2), x: xs[2], y: y + h + 8, color: [180, 0, 0], scale: 1)
        return figure
    }
}

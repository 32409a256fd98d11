import Foundation
import Fovea
import FoveaIO
import FoveaTensor

/// Accuracy under attack as epsilon grows (the FGSM tutorial's curve).
public struct RobustnessCurve: Sendable, Codable {
    public let method: String
    public let epsilons: [Float]
    /// Fraction of images still classified as their label at each epsilon.
    public let accuracies: [Float]
    public let images: Int
    /// "labels" (from class folders) or "clean predictions" (the model's own top-1).
    public let reference: String
}

extension ImageClassifier {
    /// Attacks every image at every epsilon (untargeted, against `labels[i]`) and measures how
    /// often the top-1 class stays `labels[i]`.
    public func robustness(pixels: [Tensor], labels: [Int], epsilons: [Float], method: AttackSettings.Method,
                           steps: Int = 10, reference: String, progress: ((Int, Int) -> Void)? = nil) throws -> RobustnessCurve {
        precondition(pixels.count == labels.count, "one label per image")
        var accuracies: [Float] = []
        let total = epsilons.count * pixels.count
        for (e, epsilon) in epsilons.enumerated() {
            var correct = 0
            for (i, (p, label)) in zip(pixels, labels).enumerated() {
                var settings = AttackSettings(method: method, epsilon: epsilon)
                (settings.steps, settings.label) = (steps, label)
                let top = epsilon == 0
                    ? predict(normalizedInput(p)).top(1)[0].index
                    : try attack(p, settings).after.top(1)[0].index
                if top == label { correct += 1 }
                progress?(e * pixels.count + i + 1, total)
            }
            accuracies.append(Float(correct) / Float(max(pixels.count, 1)))
        }
        return RobustnessCurve(method: method.rawValue, epsilons: epsilons, accuracies: accuracies,
                               images: pixels.count, reference: reference)
    }
}

/// A line plot of accuracy (0...1) against epsilon, with gridlines and labels.
public enum RobustnessPlot {
    public static func render(_ curve: RobustnessCurve, width: Int = 640, height: Int = 400) -> Image {
        var image = Image(width: width, height: height, channels: 3, color: [255, 255, 255])
        let (left, right, top, bottom) = (56, 20, 30, 40)
        let plotW = width - left - right, plotH = height - top - bottom
        let maxEps = max(curve.epsilons.max() ?? 1, 1e-6)
        func point(_ e: Float, _ a: Float) -> (Int, Int) {
            (left + Int(Float(plotW) * e / maxEps), top + Int(Float(plotH) * (1 - a)))
        }
        for k in 0...4 {                                                    // accuracy gridlines
            let y = top + plotH * k / 4
            image.fillRect(x: left, y: y, width: plotW, height: 1, color: [225, 225, 225])
            image.drawText(String(format: "%3d%%", 100 - 25 * k), x: 8, y: y - 3, color: [80, 80, 80])
        }
        for e in curve.epsilons {
            let (x, _) = point(e, 0)
            image.fillRect(x: x, y: top, width: 1, height: plotH, color: [235, 235, 235])
            image.drawText(String(format: "%.3g", e), x: x - 8, y: top + plotH + 8, color: [80, 80, 80])
        }
        image.fillRect(x: left, y: top, width: 1, height: plotH, color: [0, 0, 0])
        image.fillRect(x: left, y: top + plotH, width: plotW, height: 1, color: [0, 0, 0])
        let points = zip(curve.epsilons, curve.accuracies).map { point($0, $1) }
        for (a, b) in zip(points, points.dropFirst()) {                      // segments, 2 px
            let steps = max(abs(b.0 - a.0), abs(b.1 - a.1), 1)
            for s in 0...steps {
                let x = a.0 + (b.0 - a.0) * s / steps, y = a.1 + (b.1 - a.1) * s / steps
                image.fillRect(x: x - 1, y: y - 1, width: 2, height: 2, color: [31, 119, 180])
            }
        }
        for p in points { image.fillRect(x: p.0 - 3, y: p.1 - 3, width: 6, height: 6, color: [214, 39, 40]) }
        image.drawText("\(curve.method.uppercased()): accuracy vs epsilon (\(curve.images) images, vs \(curve.reference))",
                       x: left, y: 8, color: [0, 0, 0])
        return image
    }
}

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
    /// "labels" (the dataset's classes) or "clean predictions" (the model's own top-1).
    public let reference: String
    /// Wall time of the whole curve, and attacked images per second (images x epsilons / seconds).
    public let seconds: Double
    public var imagesPerSecond: Double { Double(images * epsilons.count) / max(seconds, 1e-9) }

    public init(method: String, epsilons: [Float], accuracies: [Float], images: Int, reference: String, seconds: Double) {
        (self.method, self.epsilons, self.accuracies, self.images, self.reference, self.seconds)
            = (method, epsilons, accuracies, images, reference, seconds)
    }
}

extension ImageClassifier {
    /// Attacks every image at every epsilon (untargeted, against `labels[i]`) and measures how
    /// often the top-1 class stays `labels[i]`. `pixels(range)` gives the 0...1 pixels
    /// [B, C, H, W] of images `range`; they are attacked `batch` at a time, so memory stays bounded.
    public func robustness(count: Int, labels: [Int], pixels: (Range<Int>) throws -> Tensor, epsilons: [Float],
                           method: AttackSettings.Method, steps: Int = 10, batch: Int = 100, reference: String,
                           progress: ((Int, Int) -> Void)? = nil) throws -> RobustnessCurve {
        precondition(labels.count == count, "one label per image")
        let start = Date()
        let correct = try robustnessCounts(images: 0..<count, labels: labels, pixels: pixels, epsilons: epsilons,
                                           method: method, steps: steps, batch: batch, progress: progress)
        return RobustnessCurve(method: method.rawValue, epsilons: epsilons,
                               accuracies: correct.map { Float($0) / Float(max(count, 1)) },
                               images: count, reference: reference, seconds: Date().timeIntervalSince(start))
    }

    /// How many of `images` keep their label at each epsilon: the counts behind
    /// ``robustness(count:labels:pixels:epsilons:method:steps:batch:reference:progress:)``, for
    /// any run of images (a shard of a batch job). `labels[i]` is image `images.lowerBound + i`'s.
    /// Batches start at images.lowerBound + k batch, and each batch's random start is seeded by
    /// its first image's index, so a shard that starts on a batch boundary counts what a whole
    /// run counts for those images.
    public func robustnessCounts(images: Range<Int>, labels: [Int], pixels: (Range<Int>) throws -> Tensor, epsilons: [Float],
                                 method: AttackSettings.Method, steps: Int = 10, batch: Int = 100,
                                 progress: ((Int, Int) -> Void)? = nil) throws -> [Int] {
        try FrozenWeights.run {
            precondition(labels.count == images.count, "one label per image")
            precondition(batch >= 1, "batch must be at least 1")
            var correct = [Int](repeating: 0, count: epsilons.count)
            for first in stride(from: images.lowerBound, to: images.upperBound, by: batch) {
                let range = first..<min(first + batch, images.upperBound)
                let clean = try pixels(range)
                let y = Array(labels[(range.lowerBound - images.lowerBound)..<(range.upperBound - images.lowerBound)])
                for (e, epsilon) in epsilons.enumerated() {
                    var settings = AttackSettings(method: method, epsilon: epsilon)
                    settings.steps = steps
                    settings.seed = UInt64(first)
                    let attacked = epsilon == 0 ? clean : perturb(clean, labels: y, targeted: false, settings)
                    correct[e] += zip(self.logits(normalizedInput(attacked)).argmax(), y).filter { $0 == $1 }.count
                }
                progress?(range.upperBound - images.lowerBound, images.count)
            }
            return correct
        }
    }
}

/// A line plot of accuracy (0...1) against epsilon, with gridlines and labels.
public enum RobustnessPlot {
    /// Accuracy against epsilon. `labels` names each epsilon as the user wrote it ("8/255"),
    /// in the order of `curve.epsilons`; nil prints the values.
    public static func render(_ curve: RobustnessCurve, labels: [String]? = nil, width: Int = 640, height: Int = 420) -> Image {
        var image = Image(width: width, height: height, channels: 3, color: [255, 255, 255])
        // Margins leave room for the axis titles, the tick labels and the last marker.
        let (left, right, top, bottom) = (72, 44, 40, 58)
        let plotW = width - left - right, plotH = height - top - bottom
        let maxEps = max(curve.epsilons.max() ?? 1, 1e-6)
        func point(_ e: Float, _ a: Float) -> (Int, Int) {
            (left + Int(Float(plotW) * e / maxEps), top + Int(Float(plotH) * (1 - a)))
        }
        for k in 0...4 {                                                    // accuracy gridlines
            let y = top + plotH * k / 4
            image.fillRect(x: left, y: y, width: plotW, height: 1, color: [225, 225, 225])
            let text = String(format: "%d%%", 100 - 25 * k)
            image.drawText(text, x: left - 8 - Image.textSize(text).width, y: y - 5, color: [80, 80, 80])
        }
        for (i, e) in curve.epsilons.enumerated() {
            let (x, _) = point(e, 0)
            image.fillRect(x: x, y: top, width: 1, height: plotH, color: [235, 235, 235])
            let text = labels.flatMap { $0.indices.contains(i) ? $0[i] : nil } ?? String(format: "%.3g", e)
            image.drawText(text, x: x - Image.textSize(text).width / 2, y: top + plotH + 8, color: [80, 80, 80])
        }
        image.fillRect(x: left, y: top, width: 1, height: plotH, color: [0, 0, 0])
        image.fillRect(x: left, y: top + plotH, width: plotW, height: 1, color: [0, 0, 0])
        let points = zip(curve.epsilons, curve.accuracies).map { point($0, $1) }
        for (a, b) in zip(points, points.dropFirst()) {
            image.drawLine(from: (a.0, a.1), to: (b.0, b.1), width: 2, color: [31, 119, 180])
        }
        for p in points { image.fillRect(x: p.0 - 3, y: p.1 - 3, width: 6, height: 6, color: [214, 39, 40]) }
        let title = "\(curve.method.uppercased()): accuracy against epsilon (\(curve.images) images, vs \(curve.reference))"
        image.drawText(Image.fitting(title, width: width - left - 8, scale: 2), x: left, y: 10, color: [0, 0, 0], scale: 2)
        let xTitle = "epsilon (L-infinity, pixels on the 0..1 scale)"
        image.drawText(xTitle, x: left + (plotW - Image.textSize(xTitle).width) / 2, y: top + plotH + 28, color: [0, 0, 0])
        image.drawText("accuracy", x: 6, y: top + plotH / 2 - 5, color: [0, 0, 0])
        return image
    }
}

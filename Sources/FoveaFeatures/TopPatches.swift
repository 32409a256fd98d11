import Foundation
import Fovea
import FoveaIO
import FoveaNN
import FoveaTensor

/// The dataset patches that excite chosen channels of a layer most (the lecture's "strongest
/// activations"): per channel, the k images whose maximum activation is highest, each with the
/// receptive field of that maximum's unit.
public struct TopPatches: Sendable {
    public struct Hit: Sendable {
        public let image: Int
        public let value: Float
        /// The unit's window in the model input (may extend past the image).
        public let window: (y: Int, x: Int, height: Int, width: Int)

        public init(image: Int, value: Float, window: (y: Int, x: Int, height: Int, width: Int)) {
            (self.image, self.value, self.window) = (image, value, window)
        }
    }

    public let layer: String
    public let field: ReceptiveField
    /// Channel -> hits, strongest first.
    public let hits: [(channel: Int, hits: [Hit])]

    public init(layer: String, field: ReceptiveField, hits: [(channel: Int, hits: [Hit])]) {
        (self.layer, self.field, self.hits) = (layer, field, hits)
    }

    /// One streaming pass over `dataset`, `batch` images per forward pass: each image's maximum
    /// per channel updates a top-k list per channel, so memory stays O(channels x k) whatever the
    /// dataset size. Channels are `channels`, or the `topChannels` with the highest maxima over
    /// the dataset. `shouldStop` is polled before every batch; true stops with `CancellationError`.
    public static func find(_ classifier: ImageClassifier, dataset: any ImageDataset, layer: String, channels: [Int]?,
                            topChannels: Int = 8, k: Int = 9, crop: CropMode = .center, batch: Int = 16,
                            progress: ((Int, Int) -> Void)? = nil, shouldStop: (() -> Bool)? = nil) throws -> TopPatches {
        let scan = try Scan(classifier, dataset: dataset, images: 0..<dataset.count, layer: layer, channels: channels, k: k,
                            crop: crop, batch: batch, progress: progress, shouldStop: shouldStop)
        return TopPatches(layer: layer, field: scan.field, hits: scan.chosen(channels: channels, topChannels: topChannels))
    }

    /// Hits in the lists' order: higher activation first, then lower image index (a total
    /// order, so a list does not depend on the order images were seen in, and shards merge to
    /// the whole run's list).
    static func precedes(_ a: Hit, _ b: Hit) -> Bool { a.value != b.value ? a.value > b.value : a.image < b.image }

    /// The streaming state of a pass over some images: each channel's maximum, and its k best hits.
    public struct Scan: Sendable {
        public let field: ReceptiveField
        /// Per channel (-infinity for channels not scanned).
        public var maxima: [Float]
        public var best: [Int: [Hit]]
        public let k: Int

        public init(field: ReceptiveField, maxima: [Float], best: [Int: [Hit]], k: Int) {
            (self.field, self.maxima, self.best, self.k) = (field, maxima, best, k)
        }

        /// Scans `images` of `dataset` (hits keep their indices in `dataset`).
        public init(_ classifier: ImageClassifier, dataset: any ImageDataset, images: Range<Int>, layer: String, channels: [Int]?,
                    k: Int = 9, crop: CropMode = .center, batch: Int = 16,
                    progress: ((Int, Int) -> Void)? = nil, shouldStop: (() -> Bool)? = nil) throws {
            self = try TopPatches.scan(classifier, dataset: dataset, images: images, layer: layer, channels: channels, k: k,
                                       crop: crop, batch: batch, progress: progress, shouldStop: shouldStop)
        }

        /// `channels`, or the `topChannels` with the highest maxima (ties: lower channel first),
        /// with their hits.
        public func chosen(channels: [Int]?, topChannels: Int) -> [(channel: Int, hits: [Hit])] {
            let order = maxima.indices.sorted { maxima[$0] != maxima[$1] ? maxima[$0] > maxima[$1] : $0 < $1 }
            return (channels ?? Array(order.prefix(topChannels))).map { ($0, best[$0] ?? []) }
        }

        /// The scan of all of `scans`' images together: maxima of maxima, best k of the hits.
        public static func merged(_ scans: [Scan]) -> Scan {
            var maxima = scans[0].maxima
            var best: [Int: [Hit]] = [:]
            for scan in scans {
                maxima = zip(maxima, scan.maxima).map { Swift.max($0, $1) }
                for (channel, hits) in scan.best { best[channel, default: []] += hits }
            }
            for channel in best.keys { best[channel] = Array(best[channel]!.sorted(by: TopPatches.precedes).prefix(scans[0].k)) }
            return Scan(field: scans[0].field, maxima: maxima, best: best, k: scans[0].k)
        }
    }

    static func scan(_ classifier: ImageClassifier, dataset: any ImageDataset, images: Range<Int>, layer: String, channels: [Int]?,
                     k: Int, crop: CropMode, batch: Int,
                     progress: ((Int, Int) -> Void)?, shouldStop: (() -> Bool)?) throws -> Scan {
        try FrozenWeights.run {
            let field = try classifier.receptiveField(of: layer)
            let capture = try LayerCapture(classifier.module, layers: [layer], gradients: false)
            defer { capture.remove() }
            var best: [Int: [Hit]] = [:]
            var maxima: [Float] = []
            for start in stride(from: images.lowerBound, to: images.upperBound, by: batch) {
                if let shouldStop, shouldStop() { throw CancellationError() }
                let range = start..<min(start + batch, images.upperBound)
                _ = classifier.logits(try classifier.inputs(dataset, range, crop: crop))
                guard let a = capture.outputs[layer], a.rank == 4 else {
                    throw FoveaError("--layer \(layer): needs a layer with an [N, C, H, W] output (see `fovea layers`)")
                }
                let (c, h, w) = (a.shape[1], a.shape[2], a.shape[3])
                if let channels, let bad = channels.first(where: { $0 < 0 || $0 >= c }) {
                    throw FoveaError("--channels \(bad): \(layer) has channels 0..<\(c)")
                }
                if maxima.isEmpty { maxima = [Float](repeating: -.infinity, count: c) }
                for (b, n) in range.enumerated() {
                    let v = a.storage.pointer + b * c * h * w
                    for ch in channels ?? Array(0..<c) {
                        var (bestValue, bestIndex) = (-Float.infinity, 0)
                        for i in 0..<(h * w) where v[ch * h * w + i] > bestValue { (bestValue, bestIndex) = (v[ch * h * w + i], i) }
                        maxima[ch] = max(maxima[ch], bestValue)
                        var list = best[ch, default: []]
                        let hit = Hit(image: n, value: bestValue, window: field.window(row: bestIndex / w, column: bestIndex % w))
                        if list.count < k || TopPatches.precedes(hit, list.last!) {
                            list.append(hit)
                            list.sort(by: TopPatches.precedes)
                            if list.count > k { list.removeLast() }
                            best[ch] = list
                        }
                    }
                }
                progress?(range.upperBound - images.lowerBound, images.count)
            }
            return Scan(field: field, maxima: maxima, best: best, k: k)
        }
    }

    /// Rows = channels, columns = the k patches (the receptive field cut from the crop the
    /// network saw, gray outside the image, scaled to `tile` px), labelled with the activation.
    public func grid(_ crops: (Int) throws -> Image, tile: Int = 64) rethrows -> Image {
        let k = hits.map(\.hits.count).max() ?? 0
        var cells: [Image] = []
        for (channel, list) in hits {
            var label = Image(width: tile, height: tile, channels: 3, color: [255, 255, 255])
            label.drawText("ch \(channel)", x: 4, y: tile / 2 - 4, color: [0, 0, 0], scale: 1)
            cells.append(label)
            for i in 0..<k {
                guard i < list.count else { cells.append(Image(width: tile, height: tile, channels: 3, color: [255, 255, 255])); continue }
                let hit = list[i]
                let source = try crops(hit.image).rgb()
                var patch = Image(width: hit.window.width, height: hit.window.height, channels: 3, color: [128, 128, 128])
                patch.paste(source, x: -hit.window.x, y: -hit.window.y)
                var cell = patch.resized(width: tile, height: tile, filter: patch.width < tile / 2 ? .nearest : .bilinear)
                let text = String(format: "%.3g", hit.value)
                cell.fillRect(x: 0, y: tile - 10, width: Image.textSize(text).width + 4, height: 10, color: [0, 0, 0])
                cell.drawText(text, x: 2, y: tile - 9, color: [255, 255, 255])
                cells.append(cell)
            }
        }
        return Image.grid(cells, columns: k + 1, padding: 2)
    }
}

import Foundation
import Fovea
import FoveaNN
import FoveaTensor

extension ImageClassifier {
    /// The default embedding layer: what enters the final linear classifier (the lecture's
    /// "last-layer features": 1280-d for EfficientNet-Lite0, 512-d for ResNet-18).
    public var embeddingLayer: String { spec.featuresLayer ?? spec.classifier }

    /// Features of model inputs x [N, 3, H, W] at `layer` (nil: the input of the final linear
    /// layer; a named layer: its output, averaged over space for conv layers), [N, D].
    public func features(_ x: Tensor, layer: String? = nil) throws -> Tensor {
        let name = layer ?? embeddingLayer
        guard let target = module.module(at: name) else {
            throw UnknownLayerError(name: name, in: module)
        }
        var captured: Tensor?
        // Default: the classifier's input (pre-hook); a named layer: its output.
        let handle = layer == nil && spec.featuresLayer == nil
            ? target.addForwardPreHook { _, x in captured = x; return nil }
            : target.addForwardHook { _, y in captured = y; return nil }
        defer { handle.remove() }
        _ = logits(x)
        guard var f = captured else { throw FoveaError("--layer \(name): did not run for this input") }
        if f.rank == 4 { f = withNoGrad { f.mean(axes: [2, 3]) } }              // spatial average
        return f.reshaped([x.shape[0], -1])
    }

    /// ``features(_:layer:)`` of the images at `paths` (files or `DATASET#INDEX` references),
    /// one row per image, [N, D].
    public func embed(_ paths: [String], layer: String? = nil, crop: CropMode = .center, batch: Int = 16,
                      progress: ((Int, Int) -> Void)? = nil) throws -> Tensor {
        try embed(ImageFiles(paths), layer: layer, crop: crop, batch: batch, progress: progress)
    }

    /// ``features(_:layer:)`` of every image of `dataset`, one row per image, [N, D].
    public func embed(_ dataset: any ImageDataset, layer: String? = nil, crop: CropMode = .center, batch: Int = 16,
                      progress: ((Int, Int) -> Void)? = nil) throws -> Tensor {
        try embed(count: dataset.count, layer: layer, batch: batch, progress: progress) { range in
            try inputs(dataset, range, crop: crop)
        }
    }

    /// Runs `inputs(range)` through the network `batch` images at a time, so memory stays bounded.
    func embed(count: Int, layer: String?, batch: Int, progress: ((Int, Int) -> Void)?,
               inputs: (Range<Int>) throws -> Tensor) throws -> Tensor {
    try FrozenWeights.run {
            var rows: [Float] = []
            var width = 0
            for start in stride(from: 0, to: count, by: batch) {
                let range = start..<min(start + batch, count)
                let f = try features(try inputs(range), layer: layer)
                width = f.shape[1]
                rows += f.scalars
                progress?(range.upperBound, count)
            }
            return Tensor(shape: [count, width], values: rows)
    }
}
}

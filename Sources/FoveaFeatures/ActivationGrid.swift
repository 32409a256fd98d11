import Foundation
import Fovea
import FoveaIO
import FoveaNN
import FoveaTensor

/// Feature maps of one layer for one image.
public struct LayerActivations: Sendable {
    public let layer: String
    /// [C, h, w]
    public let maps: Tensor
    /// Channels by mean activation, strongest first.
    public let ranking: [(channel: Int, mean: Float)]

    /// The `top` strongest channels as viridis tiles (each scaled to its own range), labelled
    /// with the channel index, upscaled with nearest neighbour to at least `tile` pixels.
    public func grid(top: Int, tile: Int = 96, columns: Int? = nil) -> Image {
        let (h, w) = (maps.shape[1], maps.shape[2])
        let scale = max(1, tile / max(h, w))
        let values = maps.scalars
        let tiles = ranking.prefix(top).map { entry -> Image in
            let plane = Array(values[(entry.channel * h * w)..<((entry.channel + 1) * h * w)])
            var image = Colormap.viridis.apply(FloatMap(width: w, height: h, values: plane))
                .resized(width: w * scale, height: h * scale, filter: .nearest)
            let label = "\(entry.channel)"
            let size = Image.textSize(label)
            image.fillRect(x: 0, y: 0, width: size.width + 4, height: size.height + 4, color: [0, 0, 0])
            image.drawText(label, x: 2, y: 2, color: [255, 255, 255])
            return image
        }
        return Image.grid(tiles, columns: columns ?? Int(Double(tiles.count).squareRoot().rounded(.up)), padding: 3)
    }
}

extension ImageClassifier {
    /// The output of `layer` (a PyTorch module path with a [1, C, h, w] output) for `input`.
    public func activations(_ input: Tensor, layer: String) throws -> LayerActivations {
        let capture = try LayerCapture(module, layers: [layer], gradients: false)
        _ = logits(input)
        capture.remove()
        guard let a = capture.outputs[layer], a.rank == 4, a.shape[0] == 1 else {
            throw FoveaError("--layer \(layer): needs a layer with a [1, C, H, W] output (see `fovea layers`)")
        }
        let (c, h, w) = (a.shape[1], a.shape[2], a.shape[3])
        let maps = a.reshaped([c, h, w]).detached()
        let means = maps.mean(axes: [1, 2]).scalars
        let ranking = means.enumerated().sorted { $0.element != $1.element ? $0.element > $1.element : $0.offset < $1.offset }
            .map { (channel: $0.offset, mean: $0.element) }
        return LayerActivations(layer: layer, maps: maps, ranking: ranking)
    }
}

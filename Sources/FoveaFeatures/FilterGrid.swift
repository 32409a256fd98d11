import Fovea
import FoveaIO
import FoveaNN
import FoveaTensor

/// Pictures of convolution weights.
public enum FilterGrid {
    /// The first convolution in forward order (AlexNet `features.0`, ResNet `conv1`,
    /// EfficientNet `_conv_stem`).
    public static func firstConvolution(of model: Module, input shape: [Int]) -> String? {
        model.layerShapes(input: shape).map(\.path).first { (model.module(at: $0) as? ConvolutionWeighted)?.convolutionWeight != nil }
    }

    /// Tiles of a weight tensor [out, in, kh, kw]:
    /// - in = 3: one RGB tile per filter (the first layer's view of colour);
    /// - otherwise: one grayscale tile per (filter, input channel), a filter per row, at most
    ///   `maxInputs` input channels.
    /// Each tile (RGB) or each filter (grayscale row) is scaled to its own min...max, or with
    /// `sharedScale` all tiles to the tensor's, so 0 is mid-gray in a symmetric range.
    /// Kernels are upscaled with nearest neighbour to `tile` pixels.
    public static func render(_ weight: Tensor, maxFilters: Int = 64, maxInputs: Int = 16,
                              sharedScale: Bool = false, tile: Int = 32, columns: Int? = nil) -> Image {
        precondition(weight.rank == 4, "filter grid needs [out, in, kh, kw] weights")
        let (out, inputs, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        let w = weight.scalars
        let filters = min(out, maxFilters)
        let scale = max(1, tile / max(kh, kw))
        let globalRange = range(w)
        func normalise(_ v: Float, _ r: (lo: Float, hi: Float)) -> UInt8 {
            let t = r.hi > r.lo ? (v - r.lo) / (r.hi - r.lo) : 0.5
            return UInt8(max(0, min(255, (t * 255).rounded())))
        }
        var tiles: [Image] = []
        if inputs == 3 {
            for f in 0..<filters {
                let values = Array(w[(f * 3 * kh * kw)..<((f + 1) * 3 * kh * kw)])
                let r = sharedScale ? globalRange : range(values)
                var pixels = [UInt8](repeating: 0, count: kh * kw * 3)
                for y in 0..<kh { for x in 0..<kw { for c in 0..<3 {
                    pixels[(y * kw + x) * 3 + c] = normalise(values[(c * kh + y) * kw + x], r)
                } } }
                tiles.append(Image(width: kw, height: kh, channels: 3, pixels: pixels)
                    .resized(width: kw * scale, height: kh * scale, filter: .nearest))
            }
            return Image.grid(tiles, columns: columns ?? Int(Double(filters).squareRoot().rounded(.up)), padding: 2,
                              background: [255, 255, 255])
        }
        let shownInputs = min(inputs, maxInputs)
        for f in 0..<filters {
            let values = Array(w[(f * inputs * kh * kw)..<((f + 1) * inputs * kh * kw)])
            let r = sharedScale ? globalRange : range(values)
            for i in 0..<shownInputs {
                var pixels = [UInt8](repeating: 0, count: kh * kw)
                for k in 0..<(kh * kw) { pixels[k] = normalise(values[i * kh * kw + k], r) }
                tiles.append(Image(width: kw, height: kh, channels: 1, pixels: pixels).rgb()
                    .resized(width: kw * scale, height: kh * scale, filter: .nearest))
            }
        }
        // One input channel (depthwise): a square grid of filters; else a row per filter.
        let square = Int(Double(filters).squareRoot().rounded(.up))
        return Image.grid(tiles, columns: columns ?? (shownInputs == 1 ? square : shownInputs), padding: 1,
                          background: [255, 255, 255])
    }

    /// (min, max), symmetric about 0 so that zero weights are mid-gray.
    static func range(_ v: [Float]) -> (lo: Float, hi: Float) {
        let m = v.map(Swift.abs).max() ?? 0
        return (-m, m)
    }
}

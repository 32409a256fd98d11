import FoveaIO
import FoveaModels
import FoveaTensor

/// How the model input is cut from an image.
public enum CropMode: String, Sendable, CaseIterable {
    /// The model's own crop (EfficientNet: centre 87.5%; torchvision: resize 256, centre 224).
    case center
    /// The whole image resized to the input size; an image already that size is used as is.
    case none
}

extension Preprocessing {
    /// The crop the network sees (RGB, or grayscale for 1-channel models), at input size x
    /// input size, before normalisation.
    public func crop(_ image: Image, mode: CropMode) -> Image {
        let rgb = channels == 1 ? image.grayscale() : image.rgb()
        let s = inputSize
        switch mode {
        case .none:
            return rgb.width == s && rgb.height == s ? rgb : rgb.resized(width: s, height: s, filter: .bicubic)
        case .center:
            switch crop {
            case .resize:
                return rgb.width == s && rgb.height == s ? rgb : rgb.resized(width: s, height: s, filter: .bilinear)
            case .centerFraction(let f):
                // side = round-half-even(short * f); box centred with floor division (as the reference).
                let side = max(1, Int((Double(min(rgb.width, rgb.height)) * f).rounded(.toNearestOrEven)))
                let box = rgb.cropped(x: (rgb.width - side) / 2, y: (rgb.height - side) / 2, width: side, height: side)
                return box.resized(width: s, height: s, filter: .bicubic)
            case .resizeThenCenter(let resize):
                // torchvision Resize(resize): short side -> resize, long side -> int(resize * long / short),
                // bilinear with antialias; CenterCrop: offsets round-half-even((size - s) / 2).
                let (w, h) = (rgb.width, rgb.height)
                let (nw, nh) = w <= h ? (resize, Int(Double(resize) * Double(h) / Double(w)))
                                      : (Int(Double(resize) * Double(w) / Double(h)), resize)
                let resized = rgb.resized(width: nw, height: nh, filter: .bilinear)
                let left = Int((Double(nw - s) / 2).rounded(.toNearestOrEven))
                let top = Int((Double(nh - s) / 2).rounded(.toNearestOrEven))
                return resized.cropped(x: left, y: top, width: s, height: s)
            }
        }
    }

    /// The normalised 1 x channels x H x W tensor of a crop: (pixel - mean) / std per channel.
    public func normalize(_ crop: Image) -> Tensor {
        crop.toTensor(mean: mean, std: std, scale: 1, channels: channels)
    }
}

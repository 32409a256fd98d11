import FoveaTensor

/// `torch.nn.ReflectionPad2d`: pads H and W by reflecting the border (without repeating it).
public final class ReflectionPad2d: Module {
    public let padding: Int
    public init(_ padding: Int) { self.padding = padding }
    public override func forward(_ x: Tensor) -> Tensor {
        x.padded(top: padding, bottom: padding, left: padding, right: padding, mode: .reflect)
    }
}

/// `torch.nn.Upsample(scale_factor: k, mode: "nearest")`: each pixel repeated k x k times.
public final class Upsample: Module {
    public let scale: Int
    public init(scale: Int) { self.scale = scale }
    public override func forward(_ x: Tensor) -> Tensor {
        x.resized(height: x.shape[2] * scale, width: x.shape[3] * scale, mode: .nearest)
    }
}

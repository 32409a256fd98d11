import FoveaTensor

/// `torch.nn.Sequential`: children named "0", "1", ... applied in order.
public final class Sequential: Module {
    public init(_ layers: [Module]) {
        super.init()
        for (i, layer) in layers.enumerated() { registerChild(String(i), layer) }
    }

    public override func forward(_ x: Tensor) -> Tensor { runFused(x) }

    public subscript(_ i: Int) -> Module { children[i].module }
    public var count: Int { children.count }
}

/// An activation function as a module (so it has a path a hook can name, as in torchvision).
/// `torch.nn.Sequential(OrderedDict(...))`: layers run in order under the given names.
public final class NamedSequential: Module {
    public init(_ layers: [(String, Module)]) {
        super.init()
        for (name, layer) in layers { registerChild(name, layer) }
    }

    public override func forward(_ x: Tensor) -> Tensor { runFused(x) }
}

extension Module {
    /// The children in order, a batch norm and the ReLU or ReLU6 right after it as one step
    /// (``BatchNorm2d/callAsFunction(_:then:)``), with the max pool after them where there is one
    /// (``BatchNorm2d/callAsFunction(_:then:pooling:)``), with the depthwise convolution before them
    /// when there is one (``BatchNorm2d/callAsFunction(convolving:with:then:)``); a convolution
    /// and the ReLU or ReLU6 right after it as one step too (``Conv2d/callAsFunction(_:then:)``).
    public func runFused(_ x: Tensor) -> Tensor {
        var y = x, i = 0
        while i < children.count {
            if let conv = children[i].module as? Conv2d, conv.groups > 1, i + 2 < children.count,
               let bn = children[i + 1].module as? BatchNorm2d,
               let activation = children[i + 2].module as? Activation, activation.clampUpper != nil {
                y = bn(convolving: y, with: conv, then: activation)
                i += 3
            } else if let bn = children[i].module as? BatchNorm2d, i + 2 < children.count,
                      let activation = children[i + 1].module as? Activation, activation.clampUpper != nil,
                      let pool = children[i + 2].module as? MaxPool2d {
                y = bn(y, then: activation, pooling: pool)
                i += 3
            } else if let bn = children[i].module as? BatchNorm2d, i + 1 < children.count,
               let activation = children[i + 1].module as? Activation, activation.clampUpper != nil {
                y = bn(y, then: activation)
                i += 2
            } else if let conv = children[i].module as? Conv2d, i + 1 < children.count,
                      let activation = children[i + 1].module as? Activation, activation.clampUpper != nil {
                y = conv(y, then: activation)
                i += 2
            } else {
                y = children[i].module(y)
                i += 1
            }
        }
        return y
    }
}

public final class Activation: Module {
    public enum Kind: Sendable { case relu, relu6, leakyRelu(Float), sigmoid, tanh }
    public let kind: Kind
    public init(_ kind: Kind) { self.kind = kind }

    /// The upper bound of a ReLU (infinity) or ReLU6 (6); nil for the other kinds.
    public var clampUpper: Float? {
        switch kind {
        case .relu: .infinity
        case .relu6: 6
        default: nil
        }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        switch kind {
        case .relu: x.relu()
        case .relu6: x.relu6()
        case .leakyRelu(let s): x.leakyRelu(s)
        case .sigmoid: x.sigmoid()
        case .tanh: x.tanh()
        }
    }
}

public final class MaxPool2d: Module {
    let kernel, stride, padding: Int
    let ceilMode: Bool
    public init(kernel: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false) {
        self.kernel = kernel; self.stride = stride ?? kernel; self.padding = padding; self.ceilMode = ceilMode
    }
    public override func forward(_ x: Tensor) -> Tensor {
        x.maxPool2d(kernel: (kernel, kernel), stride: (stride, stride),
                    padding: (padding, padding, padding, padding), ceilMode: ceilMode)
    }
}

public final class AvgPool2d: Module {
    let kernel, stride, padding: Int
    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernel = kernel; self.stride = stride ?? kernel; self.padding = padding
    }
    public override func forward(_ x: Tensor) -> Tensor {
        x.avgPool2d(kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding, padding, padding))
    }
}

public final class AdaptiveAvgPool2d: Module {
    public let height, width: Int
    public init(_ height: Int, _ width: Int) { self.height = height; self.width = width }
    public override func forward(_ x: Tensor) -> Tensor { x.adaptiveAvgPool2d(height: height, width: width) }
}

/// [N, C, H, W] -> [N, C*H*W], as `torch.flatten(x, 1)`.
public final class Flatten: Module {
    public override func forward(_ x: Tensor) -> Tensor { x.flattened(from: 1) }
}

/// Inverted dropout; the identity in eval mode.
public final class Dropout: Module {
    public let p: Float
    var generator = SeededGenerator(seed: 0x5EED)
    public init(_ p: Float = 0.5) { self.p = p }
    public override func forward(_ x: Tensor) -> Tensor { x.dropout(p, training: isTraining, generator: &generator) }
}

public final class Identity: Module {}

/// `torch.nn.ModuleList`: a container whose children are named "0", "1", ...; it has no forward
/// of its own.
public final class ModuleList: Module {
    public init(_ modules: [Module]) {
        super.init()
        for (i, m) in modules.enumerated() { registerChild(String(i), m) }
    }
    public var modules: [Module] { children.map(\.module) }
}

import FoveaNN
import FoveaTensor

/// EfficientNet-Lite0 with the state-dict keys of lukemelas/EfficientNet-PyTorch.
///
/// Stem 3x3/2 conv 3->32, BN, ReLU6; 16 MBConv blocks; head 1x1 conv 320->1280, BN, ReLU6,
/// global average pool, dropout 0.2, linear 1280->1000. No squeeze-excitation. Every BN has
/// eps 1e-3; every conv is bias-free with TensorFlow "SAME" padding.
public final class EfficientNetLite0: Module {
    /// (repeats, kernel, stride, expansion, output channels) per stage.
    static let stages: [(repeats: Int, kernel: Int, stride: Int, expand: Int, out: Int)] = [
        (1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
        (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320),
    ]
    static let bnEps: Float = 1e-3

    let convStem: Conv2d, bn0: BatchNorm2d, blocks: ModuleList
    let convHead: Conv2d, bn1: BatchNorm2d, pool: AdaptiveAvgPool2d, dropout: Dropout, fc: Linear

    public init(classes: Int = 1000) {
        convStem = Conv2d(3, 32, kernel: 3, stride: 2, padding: .tfSame, bias: false)
        bn0 = BatchNorm2d(32, eps: Self.bnEps)
        var blockList: [Module] = []
        var channels = 32
        for stage in Self.stages {
            for r in 0..<stage.repeats {
                blockList.append(MBConvBlock(channels, stage.out, kernel: stage.kernel,
                                             stride: r == 0 ? stage.stride : 1, expand: stage.expand))
                channels = stage.out
            }
        }
        blocks = ModuleList(blockList)
        convHead = Conv2d(320, 1280, kernel: 1, padding: .tfSame, bias: false)
        bn1 = BatchNorm2d(1280, eps: Self.bnEps)
        pool = AdaptiveAvgPool2d(1, 1)
        dropout = Dropout(0.2)
        fc = Linear(1280, classes)
        super.init()
        registerChild("_conv_stem", convStem)
        registerChild("_bn0", bn0)
        registerChild("_blocks", blocks)
        registerChild("_conv_head", convHead)
        registerChild("_bn1", bn1)
        registerChild("_avg_pooling", pool)
        registerChild("_dropout", dropout)
        registerChild("_fc", fc)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        fc(features(afterStemActivation: bn0(convStem(x), thenClampingAt: 6)))
    }

    /// The blocks and the head up to the classifier's input, [N, 1280], from the stem's ReLU6
    /// output.
    func features(afterStemActivation x: Tensor) -> Tensor {
        var h = x
        for block in blocks.modules { h = block(h) }
        h = bn1(convHead(h), thenClampingAt: 6)
        return dropout(pool(h).flattened(from: 1))
    }
}

extension EfficientNetLite0: AffineStem {
    public var stemLayers: [Module] { [convStem, bn0] }
    public func stem(_ x: Tensor) -> Tensor { bn0(convStem(x)) }
    public func features(afterStem h: Tensor) -> Tensor { features(afterStemActivation: h.relu6()) }
    public var classifier: Linear { fc }
}

/// Mobile inverted bottleneck: [expand 1x1, BN, ReLU6] (if expand != 1), depthwise kxk/s, BN,
/// ReLU6, project 1x1, BN, + input when stride 1 and channels match.
public final class MBConvBlock: Module {
    let expandConv: Conv2d?, bn0: BatchNorm2d?
    let depthwiseConv: Conv2d, bn1: BatchNorm2d, projectConv: Conv2d, bn2: BatchNorm2d
    let residual: Bool

    init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int, expand: Int) {
        let mid = inChannels * expand
        let eps = EfficientNetLite0.bnEps
        if expand != 1 {
            expandConv = Conv2d(inChannels, mid, kernel: 1, padding: .tfSame, bias: false)
            bn0 = BatchNorm2d(mid, eps: eps)
        } else {
            expandConv = nil; bn0 = nil
        }
        depthwiseConv = Conv2d(mid, mid, kernel: kernel, stride: stride, padding: .tfSame, groups: mid, bias: false)
        bn1 = BatchNorm2d(mid, eps: eps)
        projectConv = Conv2d(mid, outChannels, kernel: 1, padding: .tfSame, bias: false)
        bn2 = BatchNorm2d(outChannels, eps: eps)
        residual = stride == 1 && inChannels == outChannels
        super.init()
        if let expandConv, let bn0 { registerChild("_expand_conv", expandConv); registerChild("_bn0", bn0) }
        registerChild("_depthwise_conv", depthwiseConv)
        registerChild("_bn1", bn1)
        registerChild("_project_conv", projectConv)
        registerChild("_bn2", bn2)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        var h: Tensor
        if let expandConv, let bn0 {
            h = bn1(convolving: expandConv(x), with: depthwiseConv, thenClampingAt: 6, after: (bn0, 6))
        } else {
            h = bn1(convolving: x, with: depthwiseConv, thenClampingAt: 6)
        }
        h = bn2(projectConv(h))
        return residual ? h + x : h
    }
}

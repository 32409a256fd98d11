import Foundation
import FoveaTensor

/// The operators with spatial geometry: convolutions, pooling, padding and resizing.
extension ONNXOperators {
    /// Padding (top, bottom, left, right) for `auto_pad` or explicit `pads` [top, left, bottom, right].
    static func padding2d(_ attr: ONNXAttributes, input: (Int, Int), kernel: (Int, Int), stride: (Int, Int),
                          dilation: (Int, Int), _ c: String) throws -> (top: Int, bottom: Int, left: Int, right: Int) {
        let auto = attr.string("auto_pad", "NOTSET")
        switch auto {
        case "NOTSET":
            let p = try attr.ints("pads") ?? [0, 0, 0, 0]
            guard p.count == 4, p.allSatisfy({ $0 >= 0 && $0 <= 1 << 20 }) else { throw ONNXError("\(c): pads \(p) must be 4 values in 0...1048576 (2-D only)") }
            return (p[0], p[2], p[1], p[3])
        case "VALID": return (0, 0, 0, 0)
        case "SAME_UPPER", "SAME_LOWER":
            func split(_ i: Int, _ k: Int, _ s: Int, _ d: Int) -> (Int, Int) {
                let total = max(((i + s - 1) / s - 1) * s + (k - 1) * d + 1 - i, 0)
                return auto == "SAME_UPPER" ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
            }
            let (t, b) = split(input.0, kernel.0, stride.0, dilation.0), (l, r) = split(input.1, kernel.1, stride.1, dilation.1)
            return (t, b, l, r)
        default: throw ONNXError("\(c): auto_pad '\(auto)' is not supported")
        }
    }

    static func pair(_ v: [Int]?, _ fallback: Int, _ name: String, _ c: String) throws -> (Int, Int) {
        guard let v else { return (fallback, fallback) }
        guard v.count == 2, v.allSatisfy({ $0 >= 1 && $0 <= 1 << 16 }) else { throw ONNXError("\(c): \(name) \(v) must be two values in 1...65536 (2-D only)") }
        return (v[0], v[1])
    }

    static func conv(_ attr: ONNXAttributes, _ c: String) throws -> ONNXKernel {
        let group = try attr.int("group", 1)
        let stride = try pair(try attr.ints("strides"), 1, "strides", c)
        let dilation = try pair(try attr.ints("dilations"), 1, "dilations", c)
        return { i in
            let x = try float(i, 0, c), w = try float(i, 1, c)
            guard x.rank == 4, w.rank == 4 else { throw ONNXError("\(c): only 2-D convolution is supported, got input \(x.shape) and weight \(w.shape)") }
            guard group >= 1, x.shape[1] == w.shape[1] * group, w.shape[0] % group == 0 else {
                throw ONNXError("\(c): input \(x.shape) does not fit weight \(w.shape) with group \(group)")
            }
            let bias = i.count > 2 && i[2] != nil ? try float(i, 2, c) : nil
            if let bias, bias.count != w.shape[0] { throw ONNXError("\(c): bias of \(bias.count) for \(w.shape[0]) channels") }
            let kernel = (w.shape[2], w.shape[3])
            let p = try padding2d(attr, input: (x.shape[2], x.shape[3]), kernel: kernel, stride: stride, dilation: dilation, c)
            try checkSize([x.shape[0], x.shape[1], x.shape[2] + p.top + p.bottom, x.shape[3] + p.left + p.right], "padded input", c)
            let g = Conv2dGeometry(kernel: kernel, stride: stride, padding: p, dilation: dilation)
            let (ho, wo) = g.outputSize(h: x.shape[2], w: x.shape[3])
            guard ho > 0, wo > 0 else { throw ONNXError("\(c): input \(x.shape) is too small for kernel \(w.shape)") }
            try checkSize([x.shape[0], w.shape[0], ho, wo], "output", c)
            try checkSize([w.shape[1], kernel.0, kernel.1, ho, wo], "unfolded input (im2col)", c)
            return [.float(x.conv2d(weight: w, bias: bias, stride: stride, padding: p, dilation: dilation, groups: group))]
        }
    }

    static func convTranspose(_ attr: ONNXAttributes, _ c: String) throws -> ONNXKernel {
        let group = try attr.int("group", 1)
        let stride = try pair(try attr.ints("strides"), 1, "strides", c)
        let dilation = try pair(try attr.ints("dilations"), 1, "dilations", c)
        let outputPadding = try attr.ints("output_padding") ?? [0, 0]
        let outputShape = try attr.ints("output_shape")
        let auto = attr.string("auto_pad", "NOTSET")
        return { i in
            let x = try float(i, 0, c), w = try float(i, 1, c)
            guard x.rank == 4, w.rank == 4, x.shape[1] == w.shape[0], group >= 1, w.shape[0] % group == 0 else {
                throw ONNXError("\(c): input \(x.shape) does not fit ConvTranspose weight \(w.shape) with group \(group) (2-D only)")
            }
            guard outputPadding.count == 2 else { throw ONNXError("\(c): output_padding must have 2 values") }
            let bias = i.count > 2 && i[2] != nil ? try float(i, 2, c) : nil
            let k = (w.shape[2], w.shape[3])
            var pads = (top: 0, bottom: 0, left: 0, right: 0)
            let extra = (outputPadding[0], outputPadding[1])
            if let outputShape {
                // total = stride * (in - 1) + output_padding + (k - 1) * dilation + 1 - out
                guard outputShape.count == 2 else { throw ONNXError("\(c): output_shape must have 2 values") }
                func split(_ n: Int, _ out: Int, _ s: Int, _ kk: Int, _ d: Int, _ op: Int) -> (Int, Int) {
                    let total = s * (n - 1) + op + (kk - 1) * d + 1 - out
                    return auto == "SAME_UPPER" ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
                }
                let (t, b) = split(x.shape[2], outputShape[0], stride.0, k.0, dilation.0, extra.0)
                let (l, r) = split(x.shape[3], outputShape[1], stride.1, k.1, dilation.1, extra.1)
                guard t >= 0, b >= 0, l >= 0, r >= 0 else {
                    throw ONNXError("\(c): output_shape \(outputShape) is larger than the full transposed convolution of \(x.shape)")
                }
                pads = (t, b, l, r)
            } else if auto == "NOTSET" {
                let p = try attr.ints("pads") ?? [0, 0, 0, 0]
                guard p.count == 4, p.allSatisfy({ $0 >= 0 && $0 <= 1 << 20 }) else { throw ONNXError("\(c): pads \(p) must be 4 values in 0...1048576") }
                pads = (p[0], p[2], p[1], p[3])
            } else if auto != "VALID" {
                throw ONNXError("\(c): ConvTranspose auto_pad '\(auto)' without output_shape is not supported")
            }
            guard extra.0 >= 0, extra.1 >= 0, extra.0 < max(stride.0, dilation.0), extra.1 < max(stride.1, dilation.1) else {
                throw ONNXError("\(c): output_padding \(outputPadding) must be smaller than the stride")
            }
            let ho = (x.shape[2] - 1) * stride.0 - pads.top - pads.bottom + dilation.0 * (k.0 - 1) + extra.0 + 1
            let wo = (x.shape[3] - 1) * stride.1 - pads.left - pads.right + dilation.1 * (k.1 - 1) + extra.1 + 1
            guard ho > 0, wo > 0 else { throw ONNXError("\(c): empty output") }
            try checkSize([x.shape[0], w.shape[1] * group, ho, wo], "output", c)
            return [.float(x.convTranspose2d(weight: w, bias: bias, stride: stride, padding: pads, outputPadding: extra,
                                             dilation: dilation, groups: group))]
        }
    }

    static func pool(_ attr: ONNXAttributes, _ c: String, max isMax: Bool, outputs: [String]) throws -> ONNXKernel {
        guard outputs.count < 2 || outputs[1].isEmpty else { throw ONNXError("\(c): MaxPool's Indices output is not supported") }
        let kernel = try pair(try attr.ints("kernel_shape"), 0, "kernel_shape", c)
        guard kernel.0 > 0 else { throw ONNXError("\(c): kernel_shape is required") }
        let stride = try pair(try attr.ints("strides"), 1, "strides", c)
        let dilation = try pair(try attr.ints("dilations"), 1, "dilations", c)
        let ceil = try attr.int("ceil_mode", 0) != 0
        let includePad = try attr.int("count_include_pad", 0) != 0
        return { i in
            let x = try float(i, 0, c)
            guard x.rank == 4 else { throw ONNXError("\(c): only 2-D pooling is supported, got \(x.shape)") }
            let p = try padding2d(attr, input: (x.shape[2], x.shape[3]), kernel: kernel, stride: stride, dilation: dilation, c)
            try checkSize([x.shape[0], x.shape[1], x.shape[2] + p.top + p.bottom, x.shape[3] + p.left + p.right], "padded input", c)
            let g = Conv2dGeometry(kernel: kernel, stride: stride, padding: p, dilation: dilation)
            let (ho, wo) = g.outputSize(h: x.shape[2], w: x.shape[3], ceilMode: ceil)
            guard ho > 0, wo > 0 else { throw ONNXError("\(c): input \(x.shape) is too small for pooling \(kernel)") }
            if isMax { return [.float(x.maxPool2d(kernel: kernel, stride: stride, padding: p, dilation: dilation, ceilMode: ceil))] }
            guard dilation == (1, 1) else { throw ONNXError("\(c): dilated AveragePool is not supported") }
            return [.float(x.avgPool2d(kernel: kernel, stride: stride, padding: p, ceilMode: ceil, countIncludePad: includePad))]
        }
    }

    static func pad(_ attr: ONNXAttributes, opset: Int, _ c: String) throws -> ONNXKernel {
        let mode = attr.string("mode", "constant")
        guard ["constant", "reflect", "edge"].contains(mode) else { throw ONNXError("\(c): Pad mode '\(mode)' is not supported") }
        let attrPads = try attr.ints(opset >= 2 ? "pads" : "paddings")
        let attrValue = try attr.float("value", 0)
        return { i in
            let x = try float(i, 0, c)
            var pads = opset >= 11 ? try integers(i, 1, c) : attrPads ?? []
            let value = opset >= 11 ? try optionalScalar(i, 2, c) ?? 0 : attrValue
            if let axes = opset >= 18 ? try optionalIntegers(i, 3, c) : nil {
                var full = [Int](repeating: 0, count: 2 * x.rank)
                for (k, a) in axes.enumerated() {
                    let n = try normalized(a, rank: x.rank, c)
                    full[n] = pads[k]; full[n + x.rank] = pads[k + axes.count]
                }
                pads = full
            }
            guard pads.count == 2 * x.rank else { throw ONNXError("\(c): \(pads.count) pads for rank \(x.rank)") }
            let begin = Array(pads[..<x.rank]), end = Array(pads[x.rank...])
            let padded = (0..<x.rank).map { x.shape[$0].addingReportingOverflow(begin[$0]).partialValue.addingReportingOverflow(end[$0]).partialValue }
            guard zip(begin, end).allSatisfy({ abs($0) < 1 << 31 && abs($1) < 1 << 31 }) else { throw ONNXError("\(c): pads \(pads) are out of range") }
            try checkSize(padded, "padded output", c)
            // NCHW padding of H and W only, by zeros or reflection: one primitive.
            if x.rank == 4, begin[0] == 0, begin[1] == 0, end[0] == 0, end[1] == 0, pads.allSatisfy({ $0 >= 0 }),
               (mode == "reflect" && begin[2] < x.shape[2] && end[2] < x.shape[2] && begin[3] < x.shape[3] && end[3] < x.shape[3])
                || (mode == "constant" && value == 0) {
                return [.float(x.padded(top: begin[2], bottom: end[2], left: begin[3], right: end[3],
                                        mode: mode == "reflect" ? .reflect : .zero))]
            }
            // Any other axis or mode: per axis, concatenate the border slices.
            var y = x
            for axis in 0..<x.rank where begin[axis] != 0 || end[axis] != 0 {
                var n = y.shape[axis]
                // Negative pads crop.
                let cropBegin = max(-begin[axis], 0), cropEnd = max(-end[axis], 0)
                guard cropBegin + cropEnd <= n else { throw ONNXError("\(c): negative pads crop more than axis \(axis) holds") }
                if cropBegin + cropEnd > 0 { y = y.slice(axis: axis, cropBegin..<(n - cropEnd)); n = y.shape[axis] }
                let (b, e) = (max(begin[axis], 0), max(end[axis], 0))
                func piece(_ k: Int) -> Tensor { y.slice(axis: axis, k..<(k + 1)) }
                var before: [Tensor] = [], after: [Tensor] = []
                switch mode {
                case "reflect":
                    guard b < n, e < n else { throw ONNXError("\(c): reflect padding \(max(b, e)) must be smaller than axis \(axis) (\(n))") }
                    before = stride(from: b, through: 1, by: -1).map(piece)
                    after = (1...max(e, 1)).prefix(e).map { piece(n - 1 - $0) }
                case "edge":
                    guard n > 0 else { throw ONNXError("\(c): edge padding of an empty axis") }
                    before = [Tensor](repeating: piece(0), count: b)
                    after = [Tensor](repeating: piece(n - 1), count: e)
                default:
                    var s = y.shape
                    if b > 0 { s[axis] = b; before = [Tensor(repeating: value, shape: s)] }
                    if e > 0 { s[axis] = e; after = [Tensor(repeating: value, shape: s)] }
                }
                if !before.isEmpty || !after.isEmpty { y = Tensor.concat(before + [y] + after, axis: axis) }
            }
            return [.float(y)]
        }
    }

    static func resize(_ attr: ONNXAttributes, opset: Int, op: String, _ c: String) throws -> ONNXKernel {
        let mode = attr.string("mode", "nearest")
        let transform = attr.string("coordinate_transformation_mode", "half_pixel")
        let nearestMode = attr.string("nearest_mode", "round_prefer_floor")
        let attrScales = attr.floats("scales")
        let resizeMode: ResizeMode
        switch mode {
        case "nearest":
            // Fovea's nearest is PyTorch's: src = floor(dst * in / out).
            guard op == "Upsample" || opset < 11 || (transform == "asymmetric" && nearestMode == "floor") else {
                throw ONNXError("\(c): nearest Resize with coordinate_transformation_mode '\(transform)' and nearest_mode '\(nearestMode)' is not supported (only asymmetric + floor, PyTorch's nearest)")
            }
            resizeMode = .nearest
        case "linear", "bilinear":
            guard op == "Upsample" || opset < 11 || transform == "half_pixel" || transform == "pytorch_half_pixel" else {
                throw ONNXError("\(c): linear Resize with coordinate_transformation_mode '\(transform)' is not supported (only half_pixel, PyTorch's align_corners=False)")
            }
            resizeMode = .bilinear
        default: throw ONNXError("\(c): Resize mode '\(mode)' is not supported (nearest and linear are)")
        }
        return { i in
            let x = try float(i, 0, c)
            guard x.rank == 4 else { throw ONNXError("\(c): only 4-D (NCHW) resizing is supported, got \(x.shape)") }
            var size = (0, 0)
            var scales: [Float]? = nil
            if op == "Upsample" {
                scales = opset >= 9 ? try float(i, 1, c).scalars : attrScales
            } else if opset < 11 {
                scales = try float(i, 1, c).scalars
            } else if let sizes = try optionalIntegers(i, 3, c), !sizes.isEmpty {
                guard sizes.count == 4, sizes[0] == x.shape[0], sizes[1] == x.shape[1] else { throw ONNXError("\(c): sizes \(sizes) must keep N and C of \(x.shape)") }
                size = (sizes[2], sizes[3])
            } else {
                scales = i.count > 2 && i[2] != nil ? try float(i, 2, c).scalars : nil
            }
            if let scales {
                guard scales.count == 4, scales[0] == 1, scales[1] == 1 else { throw ONNXError("\(c): scales \(scales) must be [1, 1, sh, sw]") }
                let h = Float(x.shape[2]) * scales[2], w = Float(x.shape[3]) * scales[3]
                guard h.isFinite, w.isFinite, h >= 1, w >= 1, h * w < Float(1 << 26) else {
                    throw ONNXError("\(c): scales \(scales) give an output size out of range for \(x.shape)")
                }
                guard h == h.rounded(), w == w.rounded() else {
                    throw ONNXError("\(c): scales \(scales) do not give a whole output size for \(x.shape)")
                }
                size = (Int(h), Int(w))
            } else if op == "Upsample" || opset < 11 {
                throw ONNXError("\(c): Resize without scales")
            }
            guard size.0 > 0, size.1 > 0, size.0 < 1 << 16, size.1 < 1 << 16, size.0 * size.1 < 1 << 26 else { throw ONNXError("\(c): output size \(size) is out of range") }
            return [.float(x.resized(height: size.0, width: size.1, mode: resizeMode))]
        }
    }
}

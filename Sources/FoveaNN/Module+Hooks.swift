import FoveaTensor

/// An error naming a layer that does not exist, with the names that do.
public struct UnknownLayerError: Error, CustomStringConvertible {
    public let name: String
    public let available: [String]
    public var description: String {
        let close = available.filter { $0.hasPrefix(name.split(separator: ".").first.map(String.init) ?? name) }
        let hint = (close.isEmpty ? Array(available.prefix(12)) : Array(close.prefix(12))).joined(separator: ", ")
        return "unknown layer '\(name)'; layers include: \(hint) (see `fovea layers`)"
    }
}

/// Records the output of named layers, and the gradient flowing into those outputs, during
/// the next forward and backward passes, like PyTorch forward and full-backward hooks.
///
/// ```swift
/// let capture = try LayerCapture(model, layers: ["_blocks.15"])
/// let logits = model(x); logits.slice(axis: 1, 282..<283).sum().backward()
/// let a = capture.outputs["_blocks.15"]!, g = capture.gradients["_blocks.15"]!
/// capture.remove()
/// ```
public final class LayerCapture {
    public private(set) var outputs: [String: Tensor] = [:]
    public private(set) var gradients: [String: Tensor] = [:]
    private var handles: [HookHandle] = []

    public init(_ root: Module, layers: [String], gradients wantGradients: Bool = true) throws {
        let all = root.namedModules()
        for name in layers {
            guard let m = all.first(where: { $0.path == name })?.module else {
                throw UnknownLayerError(name: name, available: all.map(\.path).filter { !$0.isEmpty })
            }
            handles.append(m.addForwardHook { [unowned self] _, y in
                self.outputs[name] = y
                if wantGradients && y.isDifferentiable {
                    y.gradHooks.append { [unowned self] g in self.gradients[name] = g }
                }
                return nil
            })
        }
    }

    /// Uninstalls the hooks (also done when the capture is released).
    public func remove() {
        handles.forEach { $0.remove() }
        handles = []
    }

    deinit { remove() }
}

extension Module {
    /// Each module's path and output shape, in the order they run, for an input of `shape`.
    public func layerShapes(input shape: [Int]) -> [(path: String, shape: [Int])] {
        var seen: [(String, [Int])] = []
        let all = namedModules().filter { !$0.path.isEmpty }
        let handles = all.map { path, m in m.addForwardHook { _, y in seen.append((path, y.shape)); return nil } }
        _ = withNoGrad { self(Tensor(zeros: shape)) }
        handles.forEach { $0.remove() }
        return seen
    }
}

import FoveaTensor

/// The state of a forward pass that ends early: once ``isStopped`` is set, every module called
/// in this task returns its input unchanged (no computation), and imported graphs stop walking
/// their nodes.
public final class ForwardStop: @unchecked Sendable {
    @TaskLocal public static var current: ForwardStop?
    public internal(set) var isStopped = false
    init() {}
}

extension Module {
    /// The outputs of `layers` (PyTorch module paths; "" is the model's own output) from a
    /// forward pass of `x` that computes nothing after the deepest of them.
    ///
    /// The pass ends when, for each layer, its enclosing block has finished: the layer itself
    /// or its nearest ancestor that is an element of a container (`Sequential`, `ModuleList`)
    /// or of the model. A layer inside a residual block thus ends the pass after the block's
    /// sum, so the skipped rest of the model only sees tensors of the shapes it expects. The
    /// skipped modules return their inputs; the few functional operations between them (a
    /// flatten, a residual sum) still run, on those.
    ///
    /// ```swift
    /// let features = try model.outputs(of: ["_blocks.2"], for: x)["_blocks.2"]!   // runs the stem and blocks 0-2
    /// ```
    public func outputs(of requested: [String], for x: Tensor) throws -> [String: Tensor] {
        let layers = requested.map(canonicalPath)
        let outputs = try outputs(ofPaths: layers, for: x)
        var byRequest: [String: Tensor] = [:]
        for (name, path) in zip(requested, layers) { byRequest[name] = outputs[path] }
        return byRequest
    }

    private func outputs(ofPaths layers: [String], for x: Tensor) throws -> [String: Tensor] {
        let all = namedModules()
        var byPath: [String: Module] = [:]
        for (path, m) in all where byPath[path] == nil { byPath[path] = m }
        for layer in layers where byPath[layer] == nil { throw UnknownLayerError(name: layer, in: self) }
        if layers.contains("") { return outputsOfFullPass(layers, x) }

        let stop = ForwardStop()
        var captured: [String: Tensor] = [:]
        var pendingEnds = Set(layers.map { blockEnd(of: $0, modules: byPath) })
        var handles: [HookHandle] = []
        for layer in Set(layers) {
            handles.append(byPath[layer]!.addForwardHook { _, y in captured[layer] = y; return nil })
        }
        for end in pendingEnds {
            handles.append(byPath[end]!.addForwardHook { _, _ in
                pendingEnds.remove(end)
                if pendingEnds.isEmpty { stop.isStopped = true }
                return nil
            })
        }
        defer { handles.forEach { $0.remove() } }
        _ = ForwardStop.$current.withValue(stop) { self(x) }
        return captured
    }

    private func outputsOfFullPass(_ layers: [String], _ x: Tensor) -> [String: Tensor] {
        var captured: [String: Tensor] = [:]
        let handles = Set(layers).filter { !$0.isEmpty }.map { layer in
            module(at: layer)!.addForwardHook { _, y in captured[layer] = y; return nil }
        }
        captured[""] = self(x)
        handles.forEach { $0.remove() }
        return captured
    }

    /// The layer or its nearest ancestor whose parent is the model or a container.
    private func blockEnd(of layer: String, modules: [String: Module]) -> String {
        // Imported graphs name their layers with dots ("/layer4/layer4.1/Relu_output_0"): a child
        // of the model by its whole name ends its own block.
        if children.contains(where: { $0.name == layer }) { return layer }
        var path = layer
        while true {
            let parts = path.split(separator: ".")
            guard parts.count > 1 else { return path }
            let parent = parts.dropLast().joined(separator: ".")
            guard let p = modules[parent] else { return path }
            if p is Sequential || p is NamedSequential || p is ModuleList { return path }
            path = parent
        }
    }
}

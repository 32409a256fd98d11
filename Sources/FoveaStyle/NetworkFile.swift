import Foundation
import Fovea
import FoveaIO
import FoveaNN
import FoveaOptim
import FoveaTensor

/// Saving and loading trained style networks and their resumable checkpoints (safetensors).
public enum NetworkFile {
    /// Writes `module`'s state dict with `metadata` (the command that made it, the step), in F16
    /// with `halfPrecision` (a shipped network's size halved; outputs change by ~1e-3).
    public static func save(_ module: Module, metadata: [String: String], halfPrecision: Bool = false, to url: URL) throws {
        try Safetensors.write(module.stateDict().map { ($0.key, $0.tensor) }, metadata: metadata, halfPrecision: halfPrecision, to: url)
    }

    /// Loads a network file into `module` (strictly); `kind` names the network in the error.
    /// Returns the file's metadata.
    @discardableResult
    public static func load(_ url: URL, into module: Module, kind: String, flag: String) throws -> [String: String] {
        guard FileManager.default.fileExists(atPath: url.path) else { throw FoveaError("\(flag) \(url.path): file not found") }
        let state: StateDict
        do { state = try Safetensors.loadStateDict(url) } catch {
            do { state = try TorchCheckpoint.loadStateDict(url) } catch {
                throw FoveaError("\(flag) \(url.path): neither a safetensors file nor a PyTorch checkpoint")
            }
        }
        // PyTorch examples' checkpoints of old versions carry InstanceNorm running statistics; they are unused.
        var tensors = state.tensors.filter { !$0.key.hasSuffix(".running_mean") && !$0.key.hasSuffix(".running_var") }
        // A training checkpoint (OUTPUT.checkpoint): its network under "net.", without the optimiser;
        // with --average-decay, the averaged parameters (under "average.") replace the trained ones.
        if state.metadata["adam_step"] != nil {
            tensors = prefixed("net.", tensors).merging(prefixed("average.", tensors)) { _, averaged in averaged }
        }
        do { try module.loadStateDict(tensors) } catch let error as StateDictError {
            throw FoveaError("\(flag) \(url.path): not \(kind) (\(error))")
        }
        return state.metadata
    }

    /// Writes a checkpoint: the network, the optimiser's moments and step, and `metadata`.
    /// With `average`, its averages of `module`'s parameters too (under "average.", by parameter name).
    public static func saveCheckpoint(_ module: Module, optimizer: Adam, average: WeightAverage? = nil,
                                      metadata: [String: String], to url: URL) throws {
        var tensors = module.stateDict().map { ("net.\($0.key)", $0.tensor) }
        if let average {
            let slot = Dictionary(uniqueKeysWithValues: average.parameters.enumerated().map { (ObjectIdentifier($1), $0) })
            for (name, p) in module.namedParameters() {
                guard let i = slot[ObjectIdentifier(p)] else { continue }
                tensors.append(("average.\(name)", Tensor(shape: p.shape, values: average.averages[i])))
            }
        }
        for (i, state) in optimizer.momentState.enumerated() {
            guard let (m, v) = state else { continue }
            let shape = optimizer.parameters[i].shape
            tensors.append(("adam.m.\(i)", Tensor(shape: shape, values: m)))
            tensors.append(("adam.v.\(i)", Tensor(shape: shape, values: v)))
        }
        var meta = metadata
        meta["adam_step"] = String(optimizer.stepCount)
        if let average { meta["average_decay"] = "\(average.decay)" }
        let partial = url.appendingPathExtension("part")
        try Safetensors.write(tensors, metadata: meta, to: partial)
        _ = try? FileManager.default.removeItem(at: url)
        try FileManager.default.moveItem(at: partial, to: url)
    }

    /// Restores a checkpoint into `module`, `optimizer` and `average` (when the checkpoint has
    /// averages: its metadata then has "average_decay"); returns its metadata.
    public static func loadCheckpoint(_ url: URL, into module: Module, optimizer: Adam, average: WeightAverage? = nil,
                                      flag: String) throws -> [String: String] {
        let state: StateDict
        do { state = try Safetensors.loadStateDict(url) } catch { throw FoveaError("\(flag) \(url.path): cannot read the checkpoint (\(error))") }
        do { try module.loadStateDict(prefixed("net.", state.tensors)) } catch let error as StateDictError {
            throw FoveaError("\(flag) \(url.path): the checkpoint is of another network (\(error))")
        }
        let averaged = prefixed("average.", state.tensors)
        if let average, state.metadata["average_decay"] != nil {
            let names = Dictionary(uniqueKeysWithValues: module.namedParameters().map { (ObjectIdentifier($0.tensor), $0.key) })
            let saved = average.parameters.map { p in names[ObjectIdentifier(p)].flatMap { averaged[$0] } }
            guard saved.allSatisfy({ $0 != nil }), zip(saved, average.parameters).allSatisfy({ $0!.shape == $1.shape }) else {
                throw FoveaError("\(flag) \(url.path): the checkpoint's averaged weights do not match the network")
            }
            average.restore(saved.map { $0!.scalars })
        }
        let moments = optimizer.parameters.indices.map { i -> (m: [Float], v: [Float])? in
            guard let m = state.tensors["adam.m.\(i)"], let v = state.tensors["adam.v.\(i)"] else { return nil }
            return (m.scalars, v.scalars)
        }
        optimizer.restore(moments: moments, stepCount: Int(state.metadata["adam_step"] ?? "0") ?? 0)
        return state.metadata
    }

    /// The tensors whose names start with `prefix`, the prefix dropped.
    private static func prefixed(_ prefix: String, _ tensors: [String: Tensor]) -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: tensors.filter { $0.key.hasPrefix(prefix) }.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
    }
}

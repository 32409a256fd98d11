import ArgumentParser
import Dispatch
import Fovea
import FoveaAdversarial
import FoveaAttribution
import FoveaEmbedding
import FoveaModels
import FoveaNN
import FoveaTensor
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time forward and forward+backward-to-input passes (used by `make bench`).",
        discussion: """
        For each model at 1x3x224x224: 3 warm-up runs, then --runs timed runs of a forward pass \
        without recording, and of a forward pass plus the gradient of the top-1 logit with \
        respect to the input (parameters frozen). These run as techniques run them, inside \
        FrozenWeights.run (Winograd filter transforms made once per weight); "cold" \
        forward+backward passes then run outside it, each making its own. `make bench` runs \
        the PyTorch peer alongside.
        """
    )

    @Option(name: .long, help: "Timed runs per model and pass.")
    var runs = 7

    @Option(name: .long, help: "Comma-separated models.")
    var models = "efficientnet-lite0,alexnet,vgg16,resnet18,resnet50,squeezenet1_1,mobilenet_v2"

    @Flag(name: .long, help: "Print JSON (the format scripts/bench.py reads).")
    var json = false

    @Option(name: .long, help: "Timed runs of each attribution method on EfficientNet-Lite0 (0 to skip).")
    var attributionRuns = 3

    @Option(name: .long, help: "Timed runs of exact kNN search and of embedding extraction (0 to skip).")
    var workloadRuns = 3

    @Option(name: .long, help: "Comma-separated attribution timings to run (default: all of gradient, gradcam, occlusion, integrated-gradients, scorecam, pgd-10).")
    var methods: String?

    @Option(name: .long, help: "Photo for the attribution timings (default: the cache's chelsea.png).")
    var image: String?

    @Flag(name: .long, help: "Also print each layer's share of the forward pass (median of --runs).")
    var layers = false

    @Flag(name: .long, help: "Also time every GEMM of one forward+backward pass: shape, time and GFLOP/s, slowest first.")
    var gemm = false

    @Option(name: .long, help: "Only time each 3x3 layer shape of VGG-16 at this input size, in-house kernels against oneDNN, per pass.")
    var convolutions: Int?

    @Option(name: .long, help: "Instead of the usual passes, time each model's frozen forward+backward pass on these convolution paths (in-house, oneDNN, preferred), alternating run by run.")
    var paths: String?

    struct Report: Codable {
        let peer: String
        let threads: Int
        /// The GEMM library and kernel set ("OpenBLAS SkylakeX").
        var blas: String?
        var results: [String: [String: [Double]]]
        /// Per attribution method, per-image milliseconds.
        var attribution: [String: [Double]]?
        /// "knn_qps": exact 10-NN queries per second, 10k queries against 60k x 1280 (cosine);
        /// "embed_images_per_s": EfficientNet-Lite0 features, batches of 16 at 224x224.
        var workloads: [String: [Double]]?
        var peakRSSMiB: Double?
    }

    /// The attribution methods timed against Captum and pytorch-grad-cam, with their settings
    /// (occlusion: window 32, stride 16; Integrated Gradients: 50 steps; Grad-CAM and Score-CAM
    /// at _blocks.15; Score-CAM, occlusion and IG batched).
    static let attributionMethods: [(name: String, method: AttributionMethod)] = [
        ("gradient", .gradient), ("gradcam", .gradcam), ("occlusion", .occlusion),
        ("integrated-gradients", .integratedGradients), ("scorecam", .scorecam),
    ]

    /// The attribution timings --methods asks for: all of them by default.
    func chosenMethods() throws -> Set<String> {
        let known = Self.attributionMethods.map(\.name) + ["pgd-10"]
        let chosen = Set(methods?.split(separator: ",").map(String.init) ?? known)
        if let unknown = chosen.subtracting(known).sorted().first {
            throw FoveaError("--methods: unknown method \(unknown) (one of \(known.joined(separator: ", ")))")
        }
        return chosen
    }

    func run() throws {
        if let size = convolutions {
            guard size >= 16 else { throw FoveaError("--convolutions: the input size must be at least 16, not \(size)") }
            return printConvolutionTimes(size: size)
        }
        _ = try chosenMethods()
        var report = Report(peer: "fovea", threads: Parallel.threads, blas: blasDescription, results: [:])
        if !json { print("GEMM: \(blasDescription); \(Parallel.threads) thread\(Parallel.threads == 1 ? "" : "s")") }
        for name in models.split(separator: ",").map(String.init) {
            guard let spec = ModelSpec.named(name) else { throw FoveaError("--models: unknown model \(name)") }
            let module = spec.build()
            module.eval()
            module.setRequiresGrad(false)
            var g = SeededGenerator(seed: 7)
            let x = Tensor.uniform([1, 3, 224, 224], in: -1...1, using: &g)
            let forwardBackward = {
                let input = x.detached()
                input.requiresGrad = true
                let logits = module(input)
                let top = logits.argmax()[0]
                logits.slice(axis: 1, top..<(top + 1)).sum().backward()
                precondition(input.grad != nil)
            }
            if let paths {
                try printPathComparison(name, paths: paths, forward: { _ = withNoGrad { module(x) } }, forwardBackward: forwardBackward)
                continue
            }
            // Passes of a frozen model, as every technique runs them (weight transforms reused
            // after the warm-up), and single passes that make their own.
            let (forward, backward) = FrozenWeights.run { (time { _ = withNoGrad { module(x) } }, time(forwardBackward)) }
            let cold = time(forwardBackward)
            report.results[name] = ["forward_ms": forward, "forward_backward_ms": backward, "forward_backward_cold_ms": cold]
            if layers && !json { FrozenWeights.run { printLayerTimes(module, x) } }
            if gemm && !json { FrozenWeights.run { printGEMMTimes(forwardBackward) } }
            if !json {
                print("\(name): forward min \(fmt(forward.min()!)) median \(fmt(median(forward))) ms; " +
                      "forward+backward min \(fmt(backward.min()!)) median \(fmt(median(backward))) ms; " +
                      "cold forward+backward min \(fmt(cold.min()!)) median \(fmt(median(cold))) ms")
            }
        }
        attribution: if attributionRuns > 0 {
            let classifier = try ImageClassifier.load("efficientnet-lite0")
            let photo = image ?? Workspace().photos.appendingPathComponent("chelsea.png").path
            let x = try classifier.input(from: photo).tensor
            let target = classifier.topClass(x)
            var options = AttributionOptions()
            options.layer = "_blocks.15"
            let chosen = try chosenMethods()
            var timings: [String: [Double]] = [:]
            for (name, method) in Self.attributionMethods where chosen.contains(name) {
                _ = try classifier.attribute(method, input: x, target: target, options: options)    // warm-up
                timings[name] = try (0..<attributionRuns).map { _ in
                    let start = DispatchTime.now().uptimeNanoseconds
                    _ = try classifier.attribute(method, input: x, target: target, options: options)
                    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                }
                if !json { print("\(name): min \(fmt(timings[name]!.min()!)) median \(fmt(median(timings[name]!))) ms") }
            }
            // PGD, 10 steps, epsilon 2/255, away from the model's own top-1 class: the attack
            // itself, as the peer times it (the before/after predictions `fovea attack` adds are
            // two more forward passes).
            guard chosen.contains("pgd-10") else { report.attribution = timings; break attribution }
            let pixels = classifier.pixels(try classifier.input(from: photo).crop)
            var pgd = AttackSettings(method: .pgd, epsilon: 2 / 255)
            pgd.steps = 10
            _ = classifier.perturb(pixels, labels: [target], targeted: false, pgd)
            timings["pgd-10"] = (0..<attributionRuns).map { _ in
                let start = DispatchTime.now().uptimeNanoseconds
                _ = classifier.perturb(pixels, labels: [target], targeted: false, pgd)
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            }
            if !json { print("pgd-10: min \(fmt(timings["pgd-10"]!.min()!)) median \(fmt(median(timings["pgd-10"]!))) ms") }
            report.attribution = timings
        }
        if workloadRuns > 0 { report.workloads = try workloads() }
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        report.peakRSSMiB = Double(usage.ru_maxrss) / 1024            // kilobytes on Linux
        #else
        getrusage(RUSAGE_SELF, &usage)
        report.peakRSSMiB = Double(usage.ru_maxrss) / (1024 * 1024)   // bytes on macOS
        #endif
        if json {
            try printJSON(report, pretty: false)         // one line: scripts/bench.py reads it
        }
    }

    /// Exact kNN throughput and embedding-extraction throughput (see ``Report/workloads``).
    func workloads() throws -> [String: [Double]] {
        var g = SeededGenerator(seed: 11)
        let index = NearestNeighbors(index: Tensor.normal([60000, 1280], using: &g), metric: .cosine)
        let queries = Tensor.normal([10000, 1280], using: &g)
        _ = index.search(queries.slice(axis: 0, 0..<256), k: 10)                 // warm-up
        let knn = (0..<workloadRuns).map { _ in
            let start = DispatchTime.now().uptimeNanoseconds
            _ = index.search(queries, k: 10)
            return 10000 / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        if !json { print("knn: \(fmt(knn.max()!)) / \(fmt(median(knn))) queries/s (best / median)") }
        let classifier = try ImageClassifier.load("efficientnet-lite0")
        let batch = Tensor.uniform([16, 3, 224, 224], in: -1...1, using: &g)
        _ = try classifier.features(batch)
        let embed = try (0..<workloadRuns).map { _ in
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try classifier.features(batch)
            return 16 / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        if !json { print("embed: \(fmt(embed.max()!)) / \(fmt(median(embed))) images/s (best / median)") }
        return ["knn_qps": knn, "embed_images_per_s": embed]
    }

    /// Per leaf layer, the time from the previous leaf's output to its own: that layer's cost,
    /// plus any functional ops between the two (residual adds, flattening).
    func printLayerTimes(_ module: Module, _ x: Tensor) {
        let leaves = module.namedModules().filter { !$0.path.isEmpty && $0.module.children.isEmpty }
        var last: UInt64 = 0
        var spent: [String: [Double]] = [:]
        var order: [String] = []
        let handles = leaves.map { path, m in
            m.addForwardHook { _, _ in
                let t = DispatchTime.now().uptimeNanoseconds
                if spent[path] == nil { order.append(path) }
                spent[path, default: []].append(Double(t - last) / 1e6)
                last = t
                return nil
            }
        }
        defer { handles.forEach { $0.remove() } }
        for _ in 0..<runs {
            last = DispatchTime.now().uptimeNanoseconds
            _ = withNoGrad { module(x) }
        }
        let rows = order.map { ($0, spent[$0]!.reduce(0, +) / Double(runs)) }
        let total = rows.reduce(0) { $0 + $1.1 }
        for (path, ms) in rows {
            print("  \(path.padding(toLength: 28, withPad: " ", startingAt: 0)) \(String(format: "%7.3f ms %5.1f%%", ms, 100 * ms / total))")
        }
        print("  total \(fmt(total)) ms")
    }

    /// One forward+backward pass's GEMMs (after warm-up passes), grouped by shape.
    func printGEMMTimes(_ pass: () -> Void) {
        for _ in 0..<3 { pass() }
        let products = GEMMLog.recording(pass)
        var groups: [String: (count: Int, microseconds: Double, flops: Double)] = [:]
        for p in products {
            let key = "\(p.m) x \(p.n) x \(p.k)\(p.transA ? " A^T" : "")\(p.transB ? " B^T" : "")\(p.splitAcrossCores ? "" : " (one core)")"
            let old = groups[key] ?? (0, 0, 0)
            groups[key] = (old.count + 1, old.microseconds + p.microseconds, old.flops + 2 * Double(p.m * p.n * p.k))
        }
        let split = products.filter(\.splitAcrossCores).reduce(0) { $0 + $1.microseconds }
        let single = products.filter { !$0.splitAcrossCores }.reduce(0) { $0 + $1.microseconds }
        print("  GEMMs (m x n x k): calls, total ms, GFLOP/s per call (one-core products run two at a time)")
        for (key, g) in groups.sorted(by: { $0.value.microseconds > $1.value.microseconds }) {
            print("  \(key.padding(toLength: 34, withPad: " ", startingAt: 0)) \(String(format: "%4d %8.3f ms %6.1f", g.count, g.microseconds / 1e3, g.flops / g.microseconds / 1e3))")
        }
        print("  \(products.count) GEMMs: \(fmt(split / 1e3)) ms split over the cores, \(fmt(single / 1e3)) ms of " +
              "one-core products (about \(fmt(single / 2e3)) ms of wall time)")
    }

    func time(_ body: () -> Void) -> [Double] {
        for _ in 0..<3 { body() }
        return (0..<runs).map { _ in
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        }
    }

    func median(_ v: [Double]) -> Double { let s = v.sorted(); return s[s.count / 2] }
    func fmt(_ v: Double) -> String { String(format: "%.1f", v) }
}

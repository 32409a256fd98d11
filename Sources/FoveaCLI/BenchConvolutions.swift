import Dispatch
import Fovea
import FoveaTensor
import Foundation

/// `fovea bench --convolutions SIZE`: each 3x3 layer shape of VGG-16 (and the Johnson network's
/// residual blocks) at SIZE x SIZE, timed on the in-house kernels and on oneDNN in alternation:
/// the table behind ``ConvolutionPath/preferred``'s rule.
extension Bench {
    /// (Cin, Cout, side) of the 3x3 stride-1 layers at input size s.
    static func convolutionShapes(size s: Int) -> [(cin: Int, cout: Int, side: Int, name: String)] {
        [(3, 64, s, "conv1_1"), (64, 64, s, "conv1_2"), (64, 128, s / 2, "conv2_1"), (128, 128, s / 2, "conv2_2"),
         (128, 256, s / 4, "conv3_1"), (256, 256, s / 4, "conv3_2"), (256, 512, s / 8, "conv4_1"),
         (512, 512, s / 8, "conv4_2"), (512, 512, s / 16, "conv5_1"), (128, 128, s / 4, "johnson res")]
    }

    enum ConvolutionPass: String, CaseIterable {
        case forward = "forward"
        case inputGradient = "forward + dx"
        case weightGradient = "forward + dw"
    }

    /// Milliseconds of one pass of a padded 3x3 convolution on `path` (min over --runs, the
    /// paths alternating run by run).
    func timeConvolution(cin: Int, cout: Int, side: Int, pass: ConvolutionPass) -> [ConvolutionPath: Double] {
        var g = SeededGenerator(seed: 3)
        let x = Tensor.uniform([1, cin, side, side], in: -1...1, using: &g)
        let w = Tensor.uniform([cout, cin, 3, 3], in: -0.1...0.1, using: &g)
        let seed = Tensor.uniform([1, cout, side, side], in: -1...1, using: &g)
        func once() {
            switch pass {
            case .forward:
                _ = withNoGrad { x.conv2d(weight: w, padding: (1, 1, 1, 1)) }
            case .inputGradient:
                let input = x.detached()
                input.requiresGrad = true
                _ = gradients(of: input.conv2d(weight: w, padding: (1, 1, 1, 1)), withRespectTo: [input], seed: seed)
            case .weightGradient:
                let weight = w.detached()
                weight.requiresGrad = true
                _ = gradients(of: x.conv2d(weight: weight, padding: (1, 1, 1, 1)), withRespectTo: [weight], seed: seed)
            }
        }
        let paths: [ConvolutionPath] = [.inHouse, .oneDNN]
        var best: [ConvolutionPath: Double] = [:]
        // Frozen weights as techniques run them: filter transforms made once (in-house).
        func timed() {
            for path in paths { ConvolutionPath.with(path) { once(); once() } }
            for _ in 0..<runs {
                for path in paths {
                    let start = DispatchTime.now().uptimeNanoseconds
                    ConvolutionPath.with(path, once)
                    let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                    best[path] = min(best[path] ?? .infinity, ms)
                }
            }
        }
        if pass == .weightGradient { timed() } else { FrozenWeights.run(timed) }
        return best
    }

    /// A model's frozen forward and forward+backward passes on each of `paths`, the paths
    /// alternating run by run so that a noisy host slows them alike.
    func printPathComparison(_ model: String, paths list: String, forward: @escaping () -> Void, forwardBackward: @escaping () -> Void) throws {
        let paths = try list.split(separator: ",").map { name in
            guard let path = ConvolutionPath(rawValue: String(name)) else {
                throw FoveaError("--paths: unknown path \(name) (one of \(ConvolutionPath.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return path
        }
        for (pass, body) in [("forward", forward), ("forward+backward", forwardBackward)] {
            var samples: [ConvolutionPath: [Double]] = [:]
            FrozenWeights.run {
                for path in paths { ConvolutionPath.with(path) { for _ in 0..<3 { body() } } }
                for _ in 0..<runs {
                    for path in paths {
                        let start = DispatchTime.now().uptimeNanoseconds
                        ConvolutionPath.with(path, body)
                        samples[path, default: []].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                    }
                }
            }
            print("\(model) \(pass): " + paths.map { "\($0.rawValue) min \(fmt(samples[$0]!.min()!)) median \(fmt(median(samples[$0]!)))" }
                .joined(separator: "; ") + " ms")
        }
    }

    func printConvolutionTimes(size: Int) {
        print("3x3 convolutions at \(size)x\(size), batch 1: min ms of \(runs) alternating runs (in-house / oneDNN)")
        print("layer        Cin  Cout  side  " + ConvolutionPass.allCases.map { $0.rawValue.padding(toLength: 22, withPad: " ", startingAt: 0) }.joined())
        for shape in Self.convolutionShapes(size: size) {
            var line = "\(shape.name.padding(toLength: 11, withPad: " ", startingAt: 0)) \(String(format: "%4d  %4d  %4d  ", shape.cin, shape.cout, shape.side))"
            for pass in ConvolutionPass.allCases {
                let t = timeConvolution(cin: shape.cin, cout: shape.cout, side: shape.side, pass: pass)
                let (a, b) = (t[.inHouse]!, t[.oneDNN]!)
                line += String(format: "%7.2f / %7.2f %@ ", a, b, b < a ? "*" : " ").padding(toLength: 22, withPad: " ", startingAt: 0)
            }
            print(line)
        }
        print("* oneDNN faster")
    }
}

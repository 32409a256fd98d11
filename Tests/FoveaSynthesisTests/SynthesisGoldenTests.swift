import Foundation
import Testing
import FoveaIO
import FoveaTensor
import _FoveaTestSupport
@testable import FoveaSynthesis

/// The synthesis primitives against PyTorch (Tests/Golden/make_synthesis_golden.py).
@Suite struct SynthesisGoldenTests {
    static let golden: [String: Tensor] = try! Safetensors.load(
        Golden.folder.deletingLastPathComponent().appendingPathComponent("synthesis/signals.safetensors"))

    @Test(arguments: [7, 8])
    func irfft2AndItsGradientMatchTorch(width: Int) {
        let g = Self.golden
        let spectrum = g["irfft2_in_\(width)"]!
        spectrum.requiresGrad = true
        let image = spectrum.irfft2(height: 6, width: width)
        #expect(maxAbsDifference(image.scalars, g["irfft2_out_\(width)"]!.scalars) < 1e-5)
        (image * g["irfft2_weight_\(width)"]!).sum().backward()
        #expect(maxAbsDifference(spectrum.grad!.scalars, g["irfft2_grad_\(width)"]!.scalars) < 1e-5)
    }

    @Test func rfft2MatchesTorch() {
        let g = Self.golden
        #expect(maxAbsDifference(g["rfft2_in"]!.rfft2().scalars, g["rfft2_out"]!.scalars) < 1e-5)
    }

    /// "grid": rotations, scales and shifts (four taps per pixel); "crop": scale-and-shift
    /// matrices, which take the separable path (one tap table per axis).
    @Test(arguments: [("grid", 8, 10), ("crop", 7, 8)])
    func affineResamplingMatchesGridSample(_ c: (name: String, height: Int, width: Int)) {
        let (g, name, height, width) = (Self.golden, c.name, c.height, c.width)
        let x = g["\(name)_in"]!
        x.requiresGrad = true
        let y = x.affineResampled(theta: g["\(name)_theta"]!.scalars, height: height, width: width)
        #expect(maxAbsDifference(y.scalars, g["\(name)_out"]!.scalars) < 1e-5)
        (y * g["\(name)_weight"]!).sum().backward()
        #expect(maxAbsDifference(x.grad!.scalars, g["\(name)_grad"]!.scalars) < 1e-5)
    }

    @Test func fourierScaleAndColourDecorrelationMatchLucid() {
        let g = Self.golden
        #expect(maxAbsDifference(FourierImage.frequencyScale(h: 6, w: 7, decay: 1), g["fourier_scale"]!.scalars) < 1e-4)
        #expect(maxAbsDifference(ColorDecorrelation.apply(g["rfft2_in"]!).scalars, g["decorrelated"]!.scalars) < 1e-5)
    }
}

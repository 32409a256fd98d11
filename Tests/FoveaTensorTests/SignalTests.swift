import Foundation
import Testing
@testable import FoveaTensor

/// The FFT, resampling and filter operations of image synthesis: against a plain DFT and by
/// finite differences (PyTorch goldens are in FoveaSynthesisTests).
@Suite struct SignalTests {
    /// x[m, n] = 1/sqrt(HW) Re sum_{k1, k2} c_k2 X[k1, k2] e^{2 pi i (k1 m / H + k2 n / W)}, in Double.
    static func referenceIrfft2(_ spectrum: [Float], h: Int, w: Int) -> [Float] {
        let half = w / 2 + 1
        return (0..<(h * w)).map { index in
            let (m, n) = (index / w, index % w)
            var sum = 0.0
            for k1 in 0..<h {
                for k2 in 0..<half {
                    let c = k2 == 0 || (w % 2 == 0 && k2 == w / 2) ? 1.0 : 2.0
                    let theta = 2 * Double.pi * (Double(k1 * m) / Double(h) + Double(k2 * n) / Double(w))
                    let (re, im) = (Double(spectrum[(k1 * half + k2) * 2]), Double(spectrum[(k1 * half + k2) * 2 + 1]))
                    sum += c * (re * cos(theta) - im * sin(theta))
                }
            }
            return Float(sum / Double(h * w).squareRoot())
        }
    }

    @Test(arguments: [(5, 6), (6, 7), (4, 4), (1, 9)])
    func irfft2MatchesThePlainDFT(h: Int, w: Int) {
        let spectrum = randomTensor([2, h, w / 2 + 1, 2], seed: UInt64(h * 10 + w))
        let image = spectrum.irfft2(height: h, width: w)
        #expect(image.shape == [2, h, w])
        let count = h * (w / 2 + 1) * 2
        for b in 0..<2 {
            let reference = Self.referenceIrfft2(Array(spectrum.scalars[(b * count)..<((b + 1) * count)]), h: h, w: w)
            #expect(maxRelativeError(Array(image.scalars[(b * h * w)..<((b + 1) * h * w)]), reference) < 1e-5)
        }
        // rfft2 undoes it on real images: irfft2(rfft2(x)) = x.
        let x = randomTensor([3, h, w], seed: 5)
        #expect(maxRelativeError(x.rfft2().irfft2(height: h, width: w).scalars, x.scalars) < 1e-5)
    }

    /// The FFT convolution of grids against the direct sum over every node, with a kernel that
    /// differs along x and y (so transposed offsets show) and decays slowly (so a wrapped offset
    /// shows), odd and even sides.
    @Test(arguments: [1, 4, 7])
    func gridConvolutionMatchesTheDirectSum(side m: Int) {
        func kernel(_ dx: Int, _ dy: Int) -> Float { 1 / (1 + Float(dx * dx) + 0.3 * Float(abs(dx)) + 0.5 * Float(dy * dy)) + 0.1 * Float(abs(dy)) }
        let grids = (0..<3).map { randomTensor([m * m], seed: UInt64(m * 3 + $0)).scalars }
        let convolution = GridConvolution(size: m, evenKernel: { kernel($0, $1) })
        let convolved = GridConvolution.convolve(grids, grids.indices.map { ($0, convolution) })
        #expect(convolution(grids[1]) == convolved[1])
        for (grid, result) in zip(grids, convolved) {
            let direct = (0..<(m * m)).map { index in
                let (a, b) = (index % m, index / m)
                var sum = 0.0
                for d in 0..<m { for c in 0..<m { sum += Double(kernel(a - c, b - d)) * Double(grid[d * m + c]) } }
                return Float(sum)
            }
            #expect(maxRelativeError(result, direct) < 1e-5)
        }
        #expect(GridConvolution.fiveSmooth(atLeast: 49) == 50 && GridConvolution.fiveSmooth(atLeast: 77) == 80)
    }

    /// FFTW has one planner for the process: the 2-D transforms and the grid convolutions plan
    /// at fresh sizes from many threads at once (as parallel tests and t-SNE beside a feature
    /// visualisation do) and every result is still right. (Two planner locks crashed CI here.)
    @Test func plansFromManyThreadsAtOnce() {
        let results = UnsafeMutableBufferPointer<Float>.allocate(capacity: 24)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 24) { i in
            if i % 2 == 0 {
                let (h, w) = (13 + i, 17 + i)
                let x = randomTensor([2, h, w], seed: UInt64(i))
                results[i] = maxRelativeError(x.rfft2().irfft2(height: h, width: w).scalars, x.scalars)
            } else {
                // A unit impulse at node (0, 0) convolves to the kernel itself: out[b m + a] = k(a, b).
                let m = 21 + i
                func kernel(_ dx: Int, _ dy: Int) -> Float { 1 / (1 + Float(dx * dx) + 0.5 * Float(dy * dy)) }
                var impulse = [Float](repeating: 0, count: m * m)
                impulse[0] = 1
                let out = GridConvolution(size: m, evenKernel: { kernel($0, $1) })(impulse)
                results[i] = maxRelativeError(out, (0..<(m * m)).map { kernel($0 % m, $0 / m) })
            }
        }
        for i in 0..<24 { #expect(results[i] < 1e-4, "job \(i)") }
    }

    @Test func gradientsByFiniteDifferences() {
        checkGradients([randomTensor([1, 2, 5, 4, 2], seed: 1)]) { $0[0].irfft2(height: 5, width: 6) }
        checkGradients([randomTensor([2, 4, 3, 2], seed: 2)]) { $0[0].irfft2(height: 4, width: 5) }
        checkGradients([randomTensor([2, 7], seed: 3)]) { $0[0].sin() }
        checkGradients([randomTensor([2, 7], seed: 4)]) { $0[0].cos() }
        let image = randomTensor([2, 2, 7, 9], seed: 5)
        checkGradients([image]) { $0[0].affineResampled(theta: [0.9, -0.2, 0.1, 0.25, 1.1, -0.05, 1, 0, 0, 0, 1, 0], height: 6, width: 8) }
        checkGradients([image]) { $0[0].rotatedAndScaled(angle: 0.2, scale: 1.1) }
        checkGradients([image]) { $0[0].rolled(dy: 3, dx: -2) }
        checkGradients([image]) { $0[0].gaussianBlurred(sigma: 0.8) }
    }

    @Test func affineIdentityKeepsTheImageAndRollIsExact() {
        let x = randomTensor([1, 3, 5, 6], seed: 6)
        // The identity reads each pixel at its own centre (up to the rounding of the coordinates).
        #expect(maxRelativeError(x.affineResampled(theta: [1, 0, 0, 0, 1, 0], height: 5, width: 6).scalars, x.scalars) < 1e-6)
        // A roll by (1, 2) moves element (y, x) to ((y + 1) % H, (x + 2) % W).
        let rolled = x.rolled(dy: 1, dx: 2).scalars
        for c in 0..<3 { for y in 0..<5 { for i in 0..<6 {
            #expect(rolled[(c * 5 + (y + 1) % 5) * 6 + (i + 2) % 6] == x.scalars[(c * 5 + y) * 6 + i])
        } } }
        #expect(x.rolled(dy: -5, dx: 12).scalars == x.scalars)
    }

    @Test func gaussianBlurKeepsConstantsAndMean() {
        let flat = Tensor(repeating: 0.3, shape: [1, 2, 8, 8])
        #expect(maxRelativeError(flat.gaussianBlurred(sigma: 1.5).scalars, flat.scalars) < 1e-6)
        // A centred impulse spreads into a normalised, symmetric bump.
        var impulse = [Float](repeating: 0, count: 81)
        impulse[40] = 1
        let bump = Tensor(shape: [1, 1, 9, 9], values: impulse).gaussianBlurred(sigma: 1).scalars
        #expect(abs(bump.reduce(0, +) - 1) < 1e-4)
        #expect(bump[39] == bump[41] && bump[31] == bump[49] && bump[40] > bump[39])
    }
}

import Foundation
#if canImport(CFFTW)
import CFFTW
#endif

/// Linear (not circular) 2-D convolution of m x m grids with an even kernel given on node
/// offsets, through FFTW:
///
///   phi[a, b] = sum_{c, d in 0..<m} K(a - c, b - d) q[c, d],   a, b in 0..<m,  K(-x, y) = K(x, -y) = K(x, y)
///
/// The kernel's offsets -(m-1)...(m-1) are laid out circularly on an n x n grid, n = 2m (offset
/// -k at n - k), each charge grid is zero-padded to n x n, and the circular convolution of the
/// two (product of their spectra) equals the linear one on the top-left m x m block: no offset
/// wraps around. The even kernel's spectrum is real, a 2-D DCT-I of one quadrant; a grid's
/// transform skips what the padding makes known: the row transforms of its m zero rows going
/// forward, and of the m rows not kept coming back (a quarter of the work of two full 2-D
/// transforms). Buffers come from fftwf_alloc, so FFTW runs its SIMD codelets.
public struct GridConvolution: @unchecked Sendable {
    /// m: the side of the grids.
    public let size: Int
    /// The kernel's spectrum at frequencies 0...m along each axis [m+1, m+1], real, scaled by
    /// 1 / n^2 (FFTW is unnormalised); frequency k > m is that of n - k.
    private let kernelSpectrum: Buffer

    /// kernel(dx, dy) for dx, dy in 0...(m-1): the kernel at (+-dx, +-dy).
    public init(size m: Int, evenKernel kernel: (Int, Int) -> Float) {
        precondition(m >= 1, "grid side must be positive")
        size = m
        let (n, side) = (2 * m, m + 1)
        // The even circular kernel's spectrum is real and even: its DCT-I (FFTW's REDFT00) over
        // offsets 0...m in each direction (offset m, never reached, is 0).
        let quadrant = Buffer(floats: side * side)
        quadrant.pointer.initialize(repeating: 0, count: side * side)
        for dy in 0..<m { for dx in 0..<m { quadrant.pointer[dy * side + dx] = kernel(dx, dy) } }
        kernelSpectrum = Buffer(floats: side * side)
        fftwf_execute_r2r(Self.plan(.evenKernel, n: n), quadrant.pointer, kernelSpectrum.pointer)
        let scale = 1 / Float(n * n)
        for i in 0..<(side * side) { kernelSpectrum.pointer[i] *= scale }
    }

    /// One convolution per kernel, made on every core (one kernel per task).
    public static func make(size m: Int, evenKernels kernels: [(Int, Int) -> Float]) -> [GridConvolution] {
        var made = [GridConvolution?](repeating: nil, count: kernels.count)
        made.withUnsafeMutableBufferPointer { out in
            let out = out
            Parallel.forEach(kernels.count) { range in
                for k in range { out[k] = GridConvolution(size: m, evenKernel: kernels[k]) }
            }
        }
        return made.map { $0! }
    }

    /// The convolution of one m x m grid (row-major, index b * m + a for node (a, b)).
    public func callAsFunction(_ grid: [Float]) -> [Float] { Self.convolve([grid], [(0, self)])[0] }

    /// For each pair, grid `pairs[t].grid` convolved with `pairs[t].kernel` (all of side m): each
    /// grid is transformed once, then the pairs are multiplied and transformed back, every core
    /// taking grids, then pairs, one at a time.
    public static func convolve(_ grids: [[Float]], _ pairs: [(grid: Int, kernel: GridConvolution)]) -> [[Float]] {
        guard let m = pairs.first?.kernel.size else { return [] }
        let n = 2 * m, half = m + 1
        var spectra = [Buffer?](repeating: nil, count: grids.count)
        spectra.withUnsafeMutableBufferPointer { out in
            let out = out
            Parallel.forEach(grids.count) { range in
                for g in range {
                    precondition(grids[g].count == m * m, "grid \(g) has \(grids[g].count) values, not \(m) x \(m)")
                    let padded = Buffer(floats: m * n)
                    padded.pointer.initialize(repeating: 0, count: m * n)
                    grids[g].withUnsafeBufferPointer { q in
                        for b in 0..<m { (padded.pointer + b * n).update(from: q.baseAddress! + b * m, count: m) }
                    }
                    out[g] = forward(padded, rows: m, side: m)
                }
            }
        }
        var results = [[Float]](repeating: [], count: pairs.count)
        results.withUnsafeMutableBufferPointer { out in
            let out = out
            Parallel.forEach(pairs.count) { range in
                for t in range {
                    precondition(pairs[t].kernel.size == m, "pair \(t): kernel of side \(pairs[t].kernel.size), grids of side \(m)")
                    let (s, k) = (spectra[pairs[t].grid]!.pointer, pairs[t].kernel.kernelSpectrum.pointer)
                    let product = Buffer(floats: 2 * n * half)
                    let p = product.pointer
                    for k1 in 0..<n {
                        let row = (k1 <= m ? k1 : n - k1) * half
                        for k2 in 0..<half {
                            let (i, kv) = (k1 * half + k2, k[row + k2])
                            p[2 * i] = s[2 * i] * kv
                            p[2 * i + 1] = s[2 * i + 1] * kv
                        }
                    }
                    out[t] = inverse(product, side: m)
                }
            }
        }
        return results
    }

    /// The half spectrum [n, m+1] complex of an n x n real grid whose rows past `rows` are zero,
    /// given as `rows` x n reals: 1-D transforms of those rows, then of every column.
    private static func forward(_ real: Buffer, rows: Int, side m: Int) -> Buffer {
        let n = 2 * m, half = m + 1
        let spectrum = Buffer(floats: 2 * n * half)
        spectrum.pointer.initialize(repeating: 0, count: 2 * n * half)
        fftwf_execute_dft_r2c(plan(.rows(forward: true, count: rows), n: n), real.pointer, spectrum.complex)
        fftwf_execute_dft(plan(.columns(forward: true), n: n), spectrum.complex, spectrum.complex)
        return spectrum
    }

    /// The top-left m x m block of the real n x n grid with half spectrum `spectrum` (which it
    /// overwrites): every column's inverse transform, then the inverses of the first m rows.
    private static func inverse(_ spectrum: Buffer, side m: Int) -> [Float] {
        let n = 2 * m
        fftwf_execute_dft(plan(.columns(forward: false), n: n), spectrum.complex, spectrum.complex)
        let rows = Buffer(floats: m * n)
        fftwf_execute_dft_c2r(plan(.rows(forward: false, count: m), n: n), spectrum.complex, rows.pointer)
        var result = [Float](repeating: 0, count: m * m)
        result.withUnsafeMutableBufferPointer { r in
            for b in 0..<m { (r.baseAddress! + b * m).update(from: rows.pointer + b * n, count: m) }
        }
        return result
    }

    /// FFTW memory (SIMD-aligned), freed with its owner.
    private final class Buffer {
        let pointer: UnsafeMutablePointer<Float>
        init(floats: Int) { pointer = fftwf_alloc_real(floats)! }
        deinit { fftwf_free(pointer) }
        var complex: UnsafeMutablePointer<fftwf_complex> { UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: fftwf_complex.self) }
    }

    /// Real rows of length n <-> their half spectra (count rows, rows n reals apart and n/2+1
    /// complex apart); length-n complex transforms of the n/2+1 columns of a half spectrum, in
    /// place; the 2-D DCT-I of an (n/2+1) x (n/2+1) quadrant.
    private enum Pass: Hashable { case rows(forward: Bool, count: Int), columns(forward: Bool), evenKernel }
    private struct PlanKey: Hashable { let pass: Pass; let n: Int }
    nonisolated(unsafe) private static var plans: [PlanKey: OpaquePointer] = [:]

    /// Made once per pass and length with FFTW_ESTIMATE (the same plan, and bit-identical
    /// results, on every run); planning holds FFT.plannerLock, the process's one FFTW planner
    /// lock; execution runs unlocked.
    private static func plan(_ pass: Pass, n: Int) -> OpaquePointer {
        FFT.plannerLock.withLock {
            let key = PlanKey(pass: pass, n: n)
            if let plan = plans[key] { return plan }
            let half = n / 2 + 1
            var length = [Int32(n)]
            let flags = UInt32(FFTW_ESTIMATE)
            let made: OpaquePointer?
            switch pass {
            case .rows(let forward, let count):
                let (real, spectrum) = (Buffer(floats: count * n), Buffer(floats: 2 * count * half))
                made = forward
                    ? fftwf_plan_many_dft_r2c(1, &length, Int32(count), real.pointer, nil, 1, Int32(n), spectrum.complex, nil, 1, Int32(half), flags)
                    : fftwf_plan_many_dft_c2r(1, &length, Int32(count), spectrum.complex, nil, 1, Int32(half), real.pointer, nil, 1, Int32(n), flags)
            case .columns(let forward):
                let spectrum = Buffer(floats: 2 * n * half)
                made = fftwf_plan_many_dft(1, &length, Int32(half), spectrum.complex, nil, Int32(half), 1,
                                           spectrum.complex, nil, Int32(half), 1, forward ? FFTW_FORWARD : FFTW_BACKWARD, flags)
            case .evenKernel:
                let (quadrant, spectrum) = (Buffer(floats: half * half), Buffer(floats: half * half))
                made = fftwf_plan_r2r_2d(Int32(half), Int32(half), quadrant.pointer, spectrum.pointer, FFTW_REDFT00, FFTW_REDFT00, flags)
            }
            plans[key] = made!
            return made!
        }
    }

    /// The smallest s >= `atLeast` with no prime factor above 5 (FFTW's fastest lengths).
    public static func fiveSmooth(atLeast m: Int) -> Int {
        var s = max(1, m)
        while true {
            var r = s
            for p in [2, 3, 5] { while r % p == 0 { r /= p } }
            if r == 1 { return s }
            s += 1
        }
    }
}

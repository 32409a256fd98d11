import Foundation
#if canImport(CFFTW)
import CFFTW
#endif

/// Real 2-D discrete Fourier transforms through FFTW (single precision), "ortho" normalised as
/// `torch.fft.rfft2(x, norm="ortho")` / `irfft2(X, s=(h, w), norm="ortho")`:
///
///   X[k1, k2] = 1/sqrt(HW) sum_{m,n} x[m, n] e^{-2 pi i (k1 m / H + k2 n / W)},  k2 in 0...W/2
///   x[m, n]   = 1/sqrt(HW) Re sum_{k1} sum_{k2} c_{k2} X[k1, k2] e^{+2 pi i (k1 m / H + k2 n / W)}
///
/// with c = 1 for the columns k2 = 0 and k2 = W/2 (W even) and 2 for the others (each stands for
/// itself and its conjugate twin). Complex values are stored as (re, im) pairs in a trailing axis
/// of size 2: a half spectrum is [..., H, W/2+1, 2].
///
/// Plans are made once per (H, W, count) with FFTW_ESTIMATE (no timing runs, so the same plan,
/// and bit-identical results, on every run) and kept; planning holds ``plannerLock`` (FFTW's
/// planner is one global, not thread-safe, state; its execute functions are thread-safe).
enum FFT {
    /// Spectrum columns of a real signal of width w.
    static func halfWidth(_ w: Int) -> Int { w / 2 + 1 }

    /// Multiplicity c_{k2} of half-spectrum column k2 (see the type's formula).
    @inline(__always)
    static func multiplicity(_ k2: Int, width w: Int) -> Float { k2 == 0 || (w % 2 == 0 && k2 == w / 2) ? 1 : 2 }

    private struct PlanKey: Hashable { let h, w, count: Int; let inverse: Bool }
    nonisolated(unsafe) private static var plans: [PlanKey: OpaquePointer] = [:]

    /// Held by every caller of an fftwf_plan_* function in the process (here and in
    /// ``GridConvolution``): two plans made at once corrupt FFTW's shared planner state.
    static let plannerLock = NSLock()

    private static func plan(h: Int, w: Int, count: Int, inverse: Bool) -> OpaquePointer {
        plannerLock.withLock {
            let key = PlanKey(h: h, w: w, count: count, inverse: inverse)
            if let plan = plans[key] { return plan }
            let (real, complex) = (h * w, h * halfWidth(w))
            let r = fftwf_alloc_real(real * count)!, c = fftwf_alloc_complex(complex * count)!
            defer { fftwf_free(r); fftwf_free(c) }
            var n: [Int32] = [Int32(h), Int32(w)]
            let flags = UInt32(FFTW_ESTIMATE) | UInt32(FFTW_UNALIGNED)
            let plan = inverse
                ? fftwf_plan_many_dft_c2r(2, &n, Int32(count), c, nil, 1, Int32(complex), r, nil, 1, Int32(real), flags)
                : fftwf_plan_many_dft_r2c(2, &n, Int32(count), r, nil, 1, Int32(real), c, nil, 1, Int32(complex), flags)
            plans[key] = plan!
            return plan!
        }
    }

    /// Half spectra [..., H, W/2+1, 2] of real images [..., H, W].
    static func rfft2(_ x: Tensor) -> Tensor {
        check(x.rank >= 2, "rfft2 needs [..., H, W], got \(x.shape)")
        let (h, w) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
        let count = x.count / (h * w), half = halfWidth(w)
        let plan = plan(h: h, w: w, count: count, inverse: false)
        let scale = 1 / Float(h * w).squareRoot()
        return Tensor(overwriting: Array(x.shape.dropLast()) + [half, 2]) { out in
            let spectrum = UnsafeMutableRawPointer(out.baseAddress!).assumingMemoryBound(to: fftwf_complex.self)
            fftwf_execute_dft_r2c(plan, x.storage.pointer, spectrum)          // reads x, does not change it
            for i in 0..<out.count { out[i] *= scale }
        }
    }

    /// Real images [..., h, w] of half spectra [..., h, w/2+1, 2]. (FFTW transforms along H
    /// first, then each row c2r, which reads only the real part of its lone columns: the
    /// type's formula, also for spectra that are not Hermitian in those columns.)
    static func irfft2(_ spectrum: Tensor, h: Int, w: Int) -> Tensor {
        let half = halfWidth(w)
        check(spectrum.rank >= 3 && Array(spectrum.shape.suffix(3)) == [h, half, 2],
                     "irfft2 to \(h)x\(w) needs [..., \(h), \(half), 2], got \(spectrum.shape)")
        let count = spectrum.count / (h * half * 2)
        let plan = plan(h: h, w: w, count: count, inverse: true)
        let scale = 1 / Float(h * w).squareRoot()
        // A c2r transform overwrites its input: it works on a copy.
        let scratch = spectrum.copy()
        return Tensor(overwriting: Array(spectrum.shape.dropLast(3)) + [h, w]) { out in
            let input = UnsafeMutableRawPointer(scratch.storage.pointer).assumingMemoryBound(to: fftwf_complex.self)
            fftwf_execute_dft_c2r(plan, input, out.baseAddress!)
            for i in 0..<out.count { out[i] *= scale }
        }
    }

    /// Adjoint of ``irfft2(_:h:w:)``: dX[k1, k2] = c_{k2} rfft2(g)[k1, k2] (both ortho), since
    /// dx/dRe X = c cos(theta) and dx/dIm X = -c sin(theta).
    static func irfft2Backward(_ g: Tensor) -> Tensor {
        let w = g.shape[g.rank - 1]
        let half = halfWidth(w)
        let grad = rfft2(g)
        let p = grad.storage.pointer
        for row in 0..<(grad.count / (half * 2)) {
            for k2 in 0..<half {
                guard multiplicity(k2, width: w) == 2 else { continue }
                let at = (row * half + k2) * 2
                p[at] *= 2; p[at + 1] *= 2
            }
        }
        return grad
    }
}

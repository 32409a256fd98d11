import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C,
/// op(A) is m x k, op(B) is k x n, C is m x n (leading dimensions lda, ldb, ldc).
///
/// On Linux, OpenBLAS runs single-threaded and large products are split in pieces (columns
/// of C, or rows when C has more rows than columns) run on every core by ``Parallel``:
/// OpenBLAS's own worker threads spin between calls and would steal the cores from Fovea's
/// other parallel kernels.
/// `split: false` keeps the product on the calling core (callers that run several independent
/// products on every core themselves).
func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
           alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
           b: UnsafePointer<Float>, ldb: Int,
           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, split: Bool = true) {
    guard m > 0, n > 0 else { return }
    guard !GEMMLog.isRecording else {
        let start = DispatchTime.now().uptimeNanoseconds
        untimedSgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                     beta: beta, c: c, ldc: ldc, split: split)
        GEMMLog.record(.init(m: m, n: n, k: k, transA: transA, transB: transB, splitAcrossCores: split,
                             microseconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e3))
        return
    }
    untimedSgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                 beta: beta, c: c, ldc: ldc, split: split)
}

private func untimedSgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>,
                          lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>,
                          ldc: Int, split: Bool) {
    #if canImport(Accelerate)
    blasCall(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    #else
    _ = BLASSetup.singleThreaded
    guard split else { return blasCall(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) }
    // A single row or column of C is a matrix-vector product: GEMV streams the matrix once
    // (AlexNet's 9216 -> 4096 layer at batch 1: 3.7 ms against 7.7 ms through GEMM).
    if m == 1 {
        // C[0, j] = alpha sum_l op(A)[0, l] op(B)[l, j]: op(B)^T times A's row (stride lda if transA).
        return gemv(transposed: !transB, rows: transB ? n : k, columns: transB ? k : n, alpha: alpha, a: b, lda: ldb,
                    x: a, incx: transA ? lda : 1, beta: beta, y: c, incy: 1, outputs: n)
    }
    if n == 1 {
        // C[i, 0] = alpha sum_l op(A)[i, l] op(B)[l, 0]: op(A) times B's column (stride ldb unless transB).
        return gemv(transposed: transA, rows: transA ? k : m, columns: transA ? m : k, alpha: alpha, a: a, lda: lda,
                    x: b, incx: transB ? 1 : ldb, beta: beta, y: c, incy: ldc, outputs: m)
    }
    guard m * n * k >= 1 << 20 && !Parallel.isSerial && Parallel.threads > 1 else {
        return blasCall(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }
    // Each core packs its share of one operand and all of the other: split the side whose
    // shared operand is smaller (columns when m <= n, so every core packs all of op(A), m x k),
    // into pieces of at least 32 columns, or rows.
    if n >= 64 && (m <= n || m < 64) {
        // Split the columns of C (and of op(B)): ceil(n / parts) rounded up to a multiple of 16.
        Parallel.split(limit: n / 32) { part, parts in
            let piece = ((n + parts - 1) / parts + 15) / 16 * 16
            let j0 = part * piece, cols = min(n - j0, piece)
            guard cols > 0 else { return }
            blasCall(transA, transB, m, cols, k, alpha, a, lda, transB ? b + j0 * ldb : b + j0, ldb, beta, c + j0, ldc)
        }
    } else {
        // Split the rows of C (and of op(A)).
        Parallel.split(limit: m) { part, parts in
            let piece = (m + parts - 1) / parts
            let i0 = part * piece, rows = min(m - i0, piece)
            guard rows > 0 else { return }
            blasCall(transA, transB, rows, n, k, alpha, transA ? a + i0 : a + i0 * lda, lda, b, ldb, beta, c + i0 * ldc, ldc)
        }
    }
    #endif
}

#if !canImport(Accelerate)
/// y = alpha op(A) x + beta y for a row-major rows x columns A (op(A) = A^T when `transposed`),
/// `outputs` entries of y; large products split their outputs over the cores.
private func gemv(transposed: Bool, rows: Int, columns: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                  x: UnsafePointer<Float>, incx: Int, beta: Float, y: UnsafeMutablePointer<Float>, incy: Int, outputs: Int) {
    func call(_ first: Int, _ count: Int) {
        guard count > 0 else { return }
        // Outputs first ..< first + count: rows of A, or columns when transposed.
        cblas_sgemv(CblasRowMajor, transposed ? CblasTrans : CblasNoTrans,
                    Int32(transposed ? rows : count), Int32(transposed ? count : columns), alpha,
                    transposed ? a + first : a + first * lda, Int32(lda), x, Int32(incx), beta, y + first * incy, Int32(incy))
    }
    guard rows * columns >= 1 << 18 && outputs >= 64 else { return call(0, outputs) }
    Parallel.split(limit: outputs / 32) { part, parts in
        let piece = (outputs / parts + 15) / 16 * 16
        let first = min(part * piece, outputs)
        call(first, part == parts - 1 ? outputs - first : min(piece, outputs - first))
    }
}
#endif

@inline(__always)
private func blasCall(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                      _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                      _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

#if !canImport(Accelerate)
enum BLASSetup {
    /// Set once, before the first product.
    static let singleThreaded: Void = { openblas_set_num_threads(1) }()
}
#endif

/// The GEMM library and, for OpenBLAS, the kernel set it chose for this CPU ("OpenBLAS
/// Haswell": AVX2; "SkylakeX", "Cooperlake": AVX-512), and OPENBLAS_CORETYPE when the
/// environment (or ``BLASKernels/relaunchWithKnownKernels()``) forces the choice.
public var blasDescription: String {
    #if canImport(Accelerate)
    return "Accelerate"
    #else
    var text = "OpenBLAS"
    if let core = openblas_get_corename() { text += " " + String(cString: core) }
    if let forced = getenv("OPENBLAS_CORETYPE") {
        let why = BLASKernels.wasRelaunched ? ", set by Fovea where OpenBLAS fell back to Prescott" : ""
        text += " (OPENBLAS_CORETYPE=\(String(cString: forced))\(why))"
    }
    return text
    #endif
}

/// Every GEMM made while recording, with its shape and wall time (`fovea bench --gemm`).
public enum GEMMLog {
    public struct Product: Sendable {
        public let m, n, k: Int
        public let transA, transB: Bool
        /// Split over the cores by ``sgemm`` (else one core, beside another product).
        public let splitAcrossCores: Bool
        public let microseconds: Double
        /// 2 m n k / time.
        public var gigaflops: Double { 2 * Double(m * n * k) / microseconds / 1e3 }
    }

    nonisolated(unsafe) private static var recording = false
    nonisolated(unsafe) private static var products: [Product] = []
    private static let lock = NSLock()

    static var isRecording: Bool { recording }

    static func record(_ product: Product) {
        lock.lock()
        products.append(product)
        lock.unlock()
    }

    /// The products `body` makes (call from one thread, with no other work running).
    public static func recording(_ body: () -> Void) -> [Product] {
        products = []
        recording = true
        body()
        recording = false
        return products
    }
}

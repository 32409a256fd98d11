import Foundation
#if canImport(Glibc)
import Glibc
#endif
#if !canImport(Accelerate)
import CBLAS
#endif

/// OpenBLAS's kernel set for this CPU, mended where the library does not know the CPU.
///
/// OpenBLAS picks its kernels (SSE3 "Prescott", AVX2 "Haswell", AVX-512 "SkylakeX" and
/// "Cooperlake", ...) once, when the library loads, from the CPU's family and model numbers.
/// Debian 12's 0.3.21 predates Intel's Sapphire Rapids (family 6, model 143), finds no entry
/// for it and falls back to Prescott, whose GEMM runs at a fraction of the AVX-512 kernels' speed on
/// the same cores: ResNet-18 forward 25.9 -> 12.6 ms, ResNet-50 forward+backward about 2x,
/// measured on a 2-core Xeon of that family (`fovea bench`, medians of 9). The only way to
/// choose is the environment variable OPENBLAS_CORETYPE, read as the library loads, so the
/// command line runs itself again with it set (``relaunchWithKnownKernels()``).
public enum BLASKernels {
    /// The kernel set to ask OpenBLAS for, or nil where its own choice stands: OpenBLAS chose
    /// something other than its fallback, or the CPU has neither AVX-512 nor AVX2 with FMA.
    /// `chosen`: openblas_get_corename(); `flags`: the CPU's features as /proc/cpuinfo names them.
    public static func replacement(chosen: String, flags: Set<String>) -> String? {
        guard isFallback(chosen) else { return nil }
        if flags.isSuperset(of: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]) {
            return flags.contains("avx512_bf16") ? "Cooperlake" : "SkylakeX"
        }
        return flags.isSuperset(of: ["avx2", "fma"]) ? "Haswell" : nil
    }

    /// Whether `name` (openblas_get_corename()) is the kernel set OpenBLAS falls back to.
    static func isFallback(_ name: String) -> Bool { name.lowercased() == "prescott" }

    /// The features of the first CPU in `cpuinfo` (/proc/cpuinfo's text): its "flags" line,
    /// which lists only what the kernel has enabled (AVX-512 state saving included).
    public static func flags(cpuinfo: String) -> Set<String> {
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return []
    }

    /// Replaces the process with the same command and OPENBLAS_CORETYPE set, where
    /// ``replacement(chosen:flags:)`` names a kernel set; returns (having changed nothing)
    /// where OpenBLAS's choice stands, the environment already sets OPENBLAS_CORETYPE (kept as
    /// it is, as CI and tests pin it), or the new process could not be started. Call first
    /// thing in `main`, before any output or thread.
    public static func relaunchWithKnownKernels() {
        #if !canImport(Accelerate) && os(Linux)
        guard getenv("OPENBLAS_CORETYPE") == nil, let name = openblas_get_corename().map({ String(cString: $0) }),
              isFallback(name),                                  // else no need to read the flags
              let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let core = replacement(chosen: name, flags: flags(cpuinfo: cpuinfo)) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv("FOVEA_BLAS_RELAUNCHED", "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")                   // exec failed: carry on with the fallback
        unsetenv("FOVEA_BLAS_RELAUNCHED")
        #endif
    }

    /// Whether this process is the command line run again by ``relaunchWithKnownKernels()``.
    static var wasRelaunched: Bool { getenv("FOVEA_BLAS_RELAUNCHED") != nil }
}

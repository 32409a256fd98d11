import Foundation

/// OpenBLAS 0.3.21 (Debian 12) does not recognise AVX-512 on recent AMD cores and runs its
/// AVX2 ("Haswell") kernels there; its AVX-512 ("SkylakeX") kernels are about 1.5x faster on
/// Fovea's convolution products. OpenBLAS reads `OPENBLAS_CORETYPE` once, when it is loaded, so
/// when the CPU has the AVX-512 subsets those kernels need and the user has not chosen a core
/// type, the process restarts itself once with the variable set.
enum KernelSelection {
    static func preferAVX512BLAS() {
        #if os(Linux)
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env["FOVEA_NO_REEXEC"] == nil,
              // /proc files report size 0: read to end of file rather than by size.
              let data = FileHandle(forReadingAtPath: "/proc/cpuinfo")?.readDataToEndOfFile(),
              let cpuinfo = String(data: data, encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        guard ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(flags.contains) else { return }
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
        setenv("FOVEA_NO_REEXEC", "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returns only on failure: carry on with the default kernels.
        #endif
    }
}

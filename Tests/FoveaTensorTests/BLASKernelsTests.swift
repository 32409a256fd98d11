import Testing
@testable import FoveaTensor

/// Which OpenBLAS kernel set replaces its SSE3 fallback, from the CPU's flags.
struct BLASKernelsTests {
    let avx2: Set<String> = ["sse3", "avx", "avx2", "fma"]
    let avx512: Set<String> = ["sse3", "avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]

    @Test func fallbackOnNewerCPUsIsReplaced() {
        #expect(BLASKernels.replacement(chosen: "Prescott", flags: avx512.union(["avx512_bf16"])) == "Cooperlake")
        #expect(BLASKernels.replacement(chosen: "Prescott", flags: avx512) == "SkylakeX")
        #expect(BLASKernels.replacement(chosen: "prescott", flags: avx2) == "Haswell")
        // AVX-512 without the byte/word or vector-length parts (Knights Landing) is not SkylakeX.
        #expect(BLASKernels.replacement(chosen: "Prescott", flags: avx2.union(["avx512f", "avx512cd"])) == "Haswell")
    }

    @Test func ownChoicesAndOldCPUsStand() {
        #expect(BLASKernels.replacement(chosen: "Haswell", flags: avx512) == nil)
        #expect(BLASKernels.replacement(chosen: "Cooperlake", flags: avx512) == nil)
        #expect(BLASKernels.replacement(chosen: "Prescott", flags: ["sse3", "avx"]) == nil)
        #expect(BLASKernels.replacement(chosen: "Prescott", flags: ["avx2"]) == nil)
    }

    @Test func flagsComeFromTheFirstFlagsLine() {
        let cpuinfo = """
        processor\t: 0
        model name\t: Intel(R) Xeon(R) Processor
        flags\t\t: fpu sse3 avx2 fma avx512f
        bugs\t\t: spectre_v1

        processor\t: 1
        flags\t\t: fpu
        """
        #expect(BLASKernels.flags(cpuinfo: cpuinfo) == ["fpu", "sse3", "avx2", "fma", "avx512f"])
        #expect(BLASKernels.flags(cpuinfo: "processor : 0\n").isEmpty)
    }
}

import Testing
@testable import FoveaTensor

/// FoveaTensor is built with -Ounchecked; its shape checks must still stop a bad call (they
/// used to be preconditions, which that flag deletes: garbage instead of an error).
@Suite struct CheckTests {
    @Test func mismatchedMatmulStops() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor(zeros: [2, 3]).matmul(Tensor(zeros: [2, 2]))
        }
    }

    @Test func impossibleReshapeStops() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor(zeros: [2, 3]).reshaped([8])
        }
    }

    @Test func shapesThatDoNotBroadcastStop() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor(zeros: [2, 3]) + Tensor(zeros: [4])
        }
    }

    @Test func goodCallsPass() {
        #expect(Tensor(zeros: [2, 3]).matmul(Tensor(zeros: [3, 2])).shape == [2, 2])
        #expect(Tensor(zeros: [2, 3]).reshaped([3, -1]).shape == [3, 2])
    }
}

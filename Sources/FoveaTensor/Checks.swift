/// Argument checks of the public operations. FoveaTensor is compiled with `-Ounchecked`, which
/// deletes `precondition`: a [2, 3] x [2, 2] matmul would compute garbage. These checks stay in
/// release builds (they run once per operation, outside the kernels' loops) and stop the
/// process with the message, as PyTorch raises on a shape error.
@inline(__always)
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { checkFailure(message()) }
}

@inline(never)
func checkFailure(_ message: String) -> Never {
    fatalError("FoveaTensor: \(message)")
}

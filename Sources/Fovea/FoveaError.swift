/// A user-facing failure: one line naming the file or argument and the problem.
public struct FoveaError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

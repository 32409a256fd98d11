import Foundation
import Testing
@testable import FoveaIO

/// IDX files (plain and gzip) as MNIST ships them, and what bad ones do.
@Suite struct IDXTests {
    /// An IDX file of unsigned bytes: magic 00 00 08 rank, big-endian dimensions, data.
    static func idx(_ shape: [Int], _ values: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 8, UInt8(shape.count)]
        for d in shape { bytes += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
        return bytes + values
    }

    static func write(_ bytes: [UInt8], gzip: Bool = false) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("idx-\(UUID().uuidString)")
        try Data(bytes).write(to: url)
        guard gzip else { return url }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-f", url.path]
        try process.run()
        process.waitUntilExit()
        return URL(fileURLWithPath: url.path + ".gz")
    }

    @Test(arguments: [false, true])
    func readsShapeAndBytes(gzip: Bool) throws {
        let values = (0..<24).map { UInt8($0 * 7 % 256) }
        let url = try Self.write(Self.idx([2, 3, 4], values), gzip: gzip)
        defer { try? FileManager.default.removeItem(at: url) }
        let array = try IDXArray(contentsOf: url)
        #expect(array.shape == [2, 3, 4])
        #expect(array.bytes == values)
    }

    @Test func badFilesGiveOneLineErrors() throws {
        let cases: [([UInt8], String)] = [
            ([1, 2, 8, 1, 0, 0, 0, 1, 5], "not an IDX file"),
            ([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0], "element type 0x0d"),
            ([0, 0, 8, 3, 0, 0, 0, 1], "dimensions"),
            ([0, 0, 8, 4] + [UInt8](repeating: 255, count: 16), "too large"),
            (Self.idx([2, 2], [1, 2, 3]), "needs 4 bytes"),
        ]
        for (bytes, message) in cases {
            let url = try Self.write(bytes)
            defer { try? FileManager.default.removeItem(at: url) }
            do {
                _ = try IDXArray(contentsOf: url)
                Issue.record("\(message): no error")
            } catch let error as CheckpointError {
                #expect(error.description.contains(message), "\(error.description)")
                #expect(!error.description.contains("\n"))
            }
        }
    }

    /// Random byte flips and truncations of a gzip'd IDX file: a clean error or a valid array, never a crash.
    @Test func mutatedGzipNeverCrashes() throws {
        let url = try Self.write(Self.idx([4, 8, 8], (0..<256).map { UInt8($0) }), gzip: true)
        defer { try? FileManager.default.removeItem(at: url) }
        let seed = [UInt8](try Data(contentsOf: url))
        var state: UInt64 = 0xC0FFEE
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("idx-fuzz-\(UUID().uuidString).gz")
        defer { try? FileManager.default.removeItem(at: scratch) }
        for _ in 0..<(Int(ProcessInfo.processInfo.environment["FOVEA_FUZZ_ROUNDS"] ?? "") ?? 300) {
            var bytes = seed
            for _ in 0..<(1 + next(4)) { bytes[next(bytes.count)] = UInt8(next(256)) }
            if next(2) == 0 { bytes = Array(bytes.prefix(next(bytes.count + 1))) }
            try Data(bytes).write(to: scratch)
            do {
                let array = try IDXArray(contentsOf: scratch)
                #expect(array.bytes.count == array.shape.reduce(1, *))
            } catch is CheckpointError {}
        }
    }
}

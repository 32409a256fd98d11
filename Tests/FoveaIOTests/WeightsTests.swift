import Foundation
import FoveaTensor
import Testing
@testable import FoveaIO

/// Fixtures come from Fixtures/make_weights_fixtures.py; expected values follow its definitions.
@Suite struct WeightsTests {
    static func fixture(_ name: String) throws -> URL {
        let dot = try #require(name.lastIndex(of: "."))
        return try #require(Bundle.module.url(forResource: String(name[..<dot]), withExtension: String(name[name.index(after: dot)...]),
                                              subdirectory: "Fixtures"), "missing fixture \(name)")
    }

    static func fixtureBytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: fixture(name))) }

    static func temporaryURL(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("fovea-weights-\(UUID().uuidString)-\(name)")
    }

    /// The error `body` throws, which must be a ``CheckpointError``.
    static func checkpointError(_ body: () throws -> Void) -> CheckpointError? {
        do { try body() } catch let error as CheckpointError { return error } catch { Issue.record("unexpected error \(error)") }
        return nil
    }

    static let base = (0..<12).map { Float($0) * 0.5 - 1 }

    // MARK: PyTorch checkpoints

    @Test(arguments: ["tiny_zip.pt", "tiny_legacy.pt"])
    func tinyCheckpoint(_ name: String) throws {
        let sd = try TorchCheckpoint.loadStateDict(Self.fixture(name))
        #expect(sd.keys == ["conv.weight", "fc.weight", "fc.bias", "crop", "strided", "param", "half", "bf16",
                            "double", "labels", "bn.num_batches_tracked"])
        let expected: [String: ([Int], [Float], WeightDType)] = [
            "conv.weight": ([2, 2, 3], Self.base, .float32),
            "fc.weight": ([4, 3], [-1, 1, 3, -0.5, 1.5, 3.5, 0, 2, 4, 0.5, 2.5, 4.5], .float32),
            "fc.bias": ([4], [1.5, 2, 2.5, 3], .float32),
            "crop": ([2, 2], [1.5, 2, 3.5, 4], .float32),
            "strided": ([4], [-0.5, 1, 2.5, 4], .float32),
            "param": ([2, 2], [1, 2, 3, 4], .float32),
            "half": ([5], [1.5, -2, 0x1p-14, 65504, 0x1p-24], .float16),
            "bf16": ([3], [1, -3.5, 0.15625], .bfloat16),
            "double": ([2], [Float(0.1), -2.5], .float64),
            "labels": ([2], [-3, 4], .int32),
            "bn.num_batches_tracked": ([], [7], .int64),
        ]
        for (key, (shape, values, dtype)) in expected {
            let t = try #require(sd[key], "missing \(key)")
            #expect(t.shape == shape, "\(key)")
            #expect(t.scalars == values, "\(key)")
            #expect(sd.dtypes[key] == dtype, "\(key)")
        }
        #expect(try TorchCheckpoint.load(Self.fixture(name)).count == 11)
    }

    @Test func wrappedCheckpointUsesStateDict() throws {
        let sd = try TorchCheckpoint.loadStateDict(Self.fixture("wrapped_p4.pt"))
        #expect(sd.keys == ["w", "b"])
        #expect(sd["w"]?.scalars == [0.25, -0.75])
        #expect(sd["b"]?.shape == [])
        #expect(sd["b"]?.scalars == [2])
    }

    @Test(arguments: [("evil_os_system.pkl", "os.system"), ("evil_builtins_eval.pkl", "builtins.eval"),
                      ("evil_posix_system.pkl", "posix.system"), ("evil_zip.pt", "posix.system"),
                      ("evil_legacy.pt", "posix.system")])
    func forbiddenGlobalsAreRefused(_ name: String, _ global: String) throws {
        let url = try Self.fixture(name)
        let error = Self.checkpointError { _ = try TorchCheckpoint.load(url) }
        #expect(error == .forbiddenGlobal(file: url.path, name: global))
        #expect(error?.description == "\(url.path): pickle calls forbidden global \(global)")
    }

    @Test func deflatedZipIsAClearError() throws {
        let url = try Self.fixture("deflated.pt")
        let error = Self.checkpointError { _ = try TorchCheckpoint.load(url) }
        let text = try #require(error?.description)
        #expect(text.hasPrefix("\(url.path): "))
        #expect(text.contains("deflate"))
        #expect(!text.contains("\n"))
    }

    @Test(arguments: ["truncated_zip.pt", "truncated_legacy.pt"])
    func truncatedFixturesFailCleanly(_ name: String) throws {
        let url = try Self.fixture(name)
        let error = Self.checkpointError { _ = try TorchCheckpoint.load(url) }
        let text = try #require(error?.description)
        #expect(text.hasPrefix("\(url.path): "))
        #expect(text.contains("truncated"))
        #expect(!text.contains("\n"))
    }

    @Test func missingAndForeignFilesNameTheFile() throws {
        let missing = URL(fileURLWithPath: "/nonexistent/none.pth")
        #expect(Self.checkpointError { _ = try TorchCheckpoint.load(missing) }?.description == "/nonexistent/none.pth: cannot read file (no such file)")
        let npy = try Self.fixture("f4_2x3.npy")
        let text = Self.checkpointError { _ = try TorchCheckpoint.load(npy) }?.description ?? ""
        #expect(text == "\(npy.path): not a PyTorch checkpoint (neither a zip archive nor the legacy magic number)")
        let folder = FileManager.default.temporaryDirectory.path
        #expect(Self.checkpointError { _ = try Safetensors.load(URL(fileURLWithPath: folder)) }?.description
                == "\(folder): cannot read file (not a regular file)")
    }

    /// Every proper prefix of a valid checkpoint throws a CheckpointError (and never crashes).
    @Test(arguments: ["tiny_zip.pt", "tiny_legacy.pt", "wrapped_p4.pt"])
    func everyTruncationThrows(_ name: String) throws {
        let bytes = try Self.fixtureBytes(name)
        for n in 0..<bytes.count {
            #expect(throws: CheckpointError.self, "prefix \(n)") { _ = try TorchCheckpoint.parse(Array(bytes[..<n])) }
        }
    }

    /// Random byte changes either still load or throw a CheckpointError; nothing crashes.
    @Test(arguments: ["tiny_zip.pt", "tiny_legacy.pt", "wrapped_p4.pt", "tiny.safetensors", "f4_2x3.npy"])
    func corruptedBytesNeverCrash(_ name: String) throws {
        let original = try Self.fixtureBytes(name)
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Int(seed >> 33) }
        for _ in 0..<(Int(ProcessInfo.processInfo.environment["FOVEA_FUZZ_ROUNDS"] ?? "") ?? 500) {
            var bytes = original
            for _ in 0...(next() % 3) { bytes[next() % bytes.count] = UInt8(truncatingIfNeeded: next()) }
            do {
                if name.hasSuffix(".safetensors") { _ = try Safetensors.parse(bytes) }
                else if name.hasSuffix(".npy") { _ = try NPY.parse(bytes) }
                else { _ = try TorchCheckpoint.parse(bytes) }
            } catch is CheckpointError {}
        }
    }

    /// Random opcode soup through the unpickler and the state-dict interpretation never crashes.
    @Test func randomPickleStreamsNeverCrash() throws {
        let opcodes: [UInt8] = Array("()NKMJqhrjtRbQ.]}e-us0a12lXU".utf8) + [0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x93, 0x94, 0x81]
        let names = [Array("storage".utf8), Array("torch\nFloatStorage\n".utf8), Array("collections\nOrderedDict\n".utf8),
                     Array("torch._utils\n_rebuild_tensor_v2\n".utf8), Array("0".utf8)]
        var seed: UInt64 = 42
        func next() -> Int { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Int(seed >> 33) }
        for _ in 0..<(Int(ProcessInfo.processInfo.environment["FOVEA_FUZZ_ROUNDS"] ?? "") ?? 500) {
            var bytes: [UInt8] = [0x80, 0x02]
            for _ in 0..<(next() % 60) {
                let r = next() % 10
                if r < 6 { bytes.append(opcodes[next() % opcodes.count]) }
                else if r < 8 { bytes.append(UInt8(truncatingIfNeeded: next() % 4)) }
                else if r < 9 { bytes += [0x63] + names[next() % 3 + 1] }
                else { let s = names[next() % names.count]; bytes += [0x8C, UInt8(s.count)] + s }
            }
            bytes.append(0x2E)
            do {
                _ = try Unpickler.load(bytes, persistentLoad: { try TorchCheckpoint.storage(from: $0, legacy: true) },
                                       TorchCheckpoint.stateDictEntries)
            } catch is CheckpointError {}
        }
    }

    @Test func hostilePickleStructuresAreSafe() throws {
        // 200k nested tuples, a list appended to itself, and a stack underflow.
        let deep: [UInt8] = [0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 200_000) + [0x2E]
        let depth = try Unpickler.load(deep) { v -> Int in
            var d = 0, cur = v
            while case .tuple(let l) = cur, let first = l.items.first { d += 1; cur = first }
            return d
        }.result
        #expect(depth == 200_000)
        let cyclic: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E]   // l = []; l.append(l)
        #expect(try Unpickler.load(cyclic) { $0.items?.count }.result == 1)
        #expect(throws: CheckpointError.self) { _ = try Unpickler.load([0x80, 0x02, 0x61, 0x2E]) { _ in 0 } }
        #expect(throws: CheckpointError.self) { _ = try Unpickler.load([0x28, 0x30, 0x30, 0x2E]) { _ in 0 } }
    }

    /// `$FOVEA_CACHE` (or `~/.cache/fovea`)`/models/efficientnet-lite0-57934424.pth`, when present.
    static func realCheckpointURL() -> URL? {
        let cache = ProcessInfo.processInfo.environment["FOVEA_CACHE"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/fovea")
        let url = cache.appendingPathComponent("models/efficientnet-lite0-57934424.pth")
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    @Test(.enabled(if: WeightsTests.realCheckpointURL() != nil, "EfficientNet-Lite0 checkpoint not in the cache"))
    func realEfficientNetLite0Checkpoint() throws {
        let url = try #require(Self.realCheckpointURL())
        let sd = try TorchCheckpoint.loadStateDict(url)
        #expect(sd.count == 296)
        #expect(sd.keys.first == "_conv_stem.weight")
        #expect(sd.keys.last == "_fc.bias")
        #expect(sd.dtypes.values.filter { $0 == .int64 }.count == 49)
        let stem = try #require(sd["_conv_stem.weight"])     // stored with strides (1, 32, 288, 96)
        #expect(stem.shape == [32, 3, 3, 3])
        #expect(Array(stem.scalars[0..<2]) == [-1.1103360652923584, -1.3087704181671143])
        #expect(stem.scalars[27] == Float(bitPattern: 0xBE97_90D4))   // [1, 0, 0, 0] = -0.2960268259048462
        #expect(abs(stem.scalars.reduce(0.0) { $0 + Double($1) } - -26.811376610887237) < 1e-4)
        let fc = try #require(sd["_fc.weight"])               // stored transposed
        #expect(fc.shape == [1000, 1280])
        #expect(fc.scalars[1] == -0.09470871090888977)
        #expect(fc.scalars[1280] == -0.0049702562391757965)
        #expect(fc.scalars[999 * 1280 + 1279] == Float(bitPattern: 0x3D27_5AB0))   // 0.04085797071456909
        #expect(abs(fc.scalars.reduce(0.0) { $0 + Double($1) } - -470.63256730128705) < 1e-2)
        #expect(sd["_bn0.running_mean"]?.scalars[1] == 1.1308561563491821)
        #expect(sd["_blocks.0._depthwise_conv.weight"]?.shape == [32, 1, 3, 3])
        #expect(sd["_bn0.num_batches_tracked"]?.shape == [])
    }

    // MARK: Safetensors

    @Test func safetensorsRead() throws {
        let sd = try Safetensors.loadStateDict(Self.fixture("tiny.safetensors"))
        #expect(sd.keys == ["conv.weight", "fc.weight", "half", "bf16", "double", "bn.num_batches_tracked"])
        #expect(sd.metadata == ["format": "pt", "source": "fovea-fixture"])
        #expect(sd["conv.weight"]?.shape == [2, 2, 3])
        #expect(sd["conv.weight"]?.scalars == Self.base)
        #expect(sd["fc.weight"]?.scalars == [-1, 1, 3, -0.5, 1.5, 3.5, 0, 2, 4, 0.5, 2.5, 4.5])
        #expect(sd["half"]?.scalars == [1.5, -2, 0x1p-14, 65504, 0x1p-24])
        #expect(sd["bf16"]?.scalars == [1, -3.5, 0.15625])
        #expect(sd["double"]?.scalars == [Float(0.1), -2.5])
        #expect(sd["bn.num_batches_tracked"]?.shape == [])
        #expect(sd["bn.num_batches_tracked"]?.scalars == [7])
        #expect(sd.dtypes["bf16"] == .bfloat16)
    }

    @Test func safetensorsRoundTrip() throws {
        var sd = StateDict()
        sd.append("z.weight", Tensor(shape: [2, 3], values: [1, -2, 3.5, 0, 1e-30, -7]))
        sd.append("a.bias", Tensor(scalar: 0.125))
        sd.metadata = ["note": "quote \" and \\ and \n"]
        let url = Self.temporaryURL("rt.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Safetensors.write(sd, to: url)
        let bytes = [UInt8](try Data(contentsOf: url))
        #expect(bytes.count == 8 + Int(bytes[0]) + Int(bytes[1]) << 8 + 28)
        #expect((Int(bytes[0]) + Int(bytes[1]) << 8) % 8 == 0)
        let back = try Safetensors.loadStateDict(url)
        #expect(back.keys == ["z.weight", "a.bias"])
        #expect(back["z.weight"]?.scalars == [1, -2, 3.5, 0, 1e-30, -7])
        #expect(back["a.bias"]?.shape == [])
        #expect(back.metadata == sd.metadata)
    }

    @Test(arguments: [("tampered_overlap.safetensors", "overlaps"), ("tampered_past_end.safetensors", "truncated")])
    func tamperedSafetensors(_ name: String, _ phrase: String) throws {
        let url = try Self.fixture(name)
        let text = Self.checkpointError { _ = try Safetensors.load(url) }?.description ?? ""
        #expect(text.hasPrefix("\(url.path): "))
        #expect(text.contains(phrase))
    }

    @Test func safetensorsHeaderChecks() throws {
        func header(_ json: String, data: Int = 0) -> [UInt8] {
            let h = Array(json.utf8)
            return withUnsafeBytes(of: UInt64(h.count).littleEndian, Array.init) + h + [UInt8](repeating: 0, count: data)
        }
        #expect(throws: CheckpointError.self) { _ = try Safetensors.parse([1, 2, 3]) }
        #expect(throws: CheckpointError.self) { _ = try Safetensors.parse(header("{not json")) }
        #expect(throws: CheckpointError.self) { _ = try Safetensors.parse(header(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: 4)) }
        #expect(throws: CheckpointError.self) { _ = try Safetensors.parse(header(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: 4)) }
        #expect(throws: CheckpointError.self) { _ = try Safetensors.parse(header(#"{"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}"#, data: 4)) }
        #expect(try Safetensors.parse(header(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: 4)).count == 1)
        var huge = header("{}")
        huge[7] = 0x7F
        #expect(throws: CheckpointError.self) { _ = try Safetensors.parse(huge) }
    }

    // MARK: NPY

    @Test func npyRead() throws {
        let f4 = try NPY.read(Self.fixture("f4_2x3.npy"))
        #expect(f4.shape == [2, 3])
        #expect(f4.scalars == [-0.5, -0.25, 0, 0.25, 0.5, 0.75])
        let fortran = try NPY.read(Self.fixture("f4_fortran.npy"))
        #expect(fortran.shape == [2, 3])
        #expect(fortran.scalars == [0, 1, 2, 3, 4, 5])
        #expect(try NPY.read(Self.fixture("f4_be.npy")).scalars == [1.5, -2])
        #expect(try NPY.read(Self.fixture("f8_v2.npy")).scalars == [0.5, -1.25, 3])
        let v3 = try NPY.read(Self.fixture("f4_v3.npy"))
        #expect(v3.shape == [2, 1])
        #expect(v3.scalars == [2, 4])
        #expect(try NPY.read(Self.fixture("i8_labels.npy")).scalars == [3, 1, 4, 1, 5])
        #expect(try NPY.readIntegers(Self.fixture("i8_labels.npy")).values == [3, 1, 4, 1, 5])
        let i4 = try NPY.readIntegers(Self.fixture("i4.npy"))
        #expect(i4.shape == [2, 2])
        #expect(i4.values == [-7, 8, 9, -10])
        #expect(try NPY.read(Self.fixture("u1.npy")).scalars == [0, 128, 255])
        let float32File = try Self.fixture("f4_2x3.npy")
        let text = Self.checkpointError { _ = try NPY.readIntegers(float32File) }?.description
        #expect(text == "\(float32File.path): array holds float32, not integers")
    }

    @Test func npyWriteRoundTrip() throws {
        let url = Self.temporaryURL("t.npy"), labels = Self.temporaryURL("l.npy"), small = Self.temporaryURL("s.npy")
        defer { for u in [url, labels, small] { try? FileManager.default.removeItem(at: u) } }
        let t = Tensor(shape: [2, 1, 3], values: [1, 2, 3, -4, 5.5, 1e-20])
        try NPY.write(t, to: url)
        let bytes = [UInt8](try Data(contentsOf: url))
        #expect(Array(bytes[0..<8]) == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let headerEnd = 10 + Int(bytes[8]) + Int(bytes[9]) << 8
        #expect(headerEnd % 64 == 0 && bytes[headerEnd - 1] == 0x0A)
        #expect(String(decoding: bytes[10..<headerEnd], as: UTF8.self)
            .hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 3), }"))
        let back = try NPY.read(url)
        #expect(back.shape == [2, 1, 3] && back.scalars == t.scalars)
        try NPY.write([7, -1, 1 << 40], to: labels)
        #expect(try NPY.readIntegers(labels).values == [7, -1, 1 << 40])
        try NPY.write([1, 2, 3, 4], shape: [2, 2], as: .int32, to: small)
        #expect(try NPY.readIntegers(small) == ([2, 2], [1, 2, 3, 4]))
        #expect(throws: CheckpointError.self) { try NPY.write([1, 2, 3], shape: [2, 2], to: small) }
    }

    @Test func npyHeaderChecks() throws {
        func npy(_ header: String, data: Int) -> [UInt8] {
            let h = Array(header.utf8)
            return [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(h.count & 0xFF), UInt8(h.count >> 8)] + h
                + [UInt8](repeating: 0, count: data)
        }
        #expect(try NPY.parse(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data: 8)).count == 2)
        #expect(throws: CheckpointError.self) { _ = try NPY.parse(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", data: 8)) }
        #expect(throws: CheckpointError.self) { _ = try NPY.parse(npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", data: 8)) }
        #expect(throws: CheckpointError.self) { _ = try NPY.parse(npy("{'descr': '<f4', 'shape': (1,)}", data: 4)) }
        #expect(throws: CheckpointError.self) { _ = try NPY.parse(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", data: 4)) }
        #expect(throws: CheckpointError.self) { _ = try NPY.parse(npy(String(repeating: "(", count: 500), data: 0)) }
    }
}

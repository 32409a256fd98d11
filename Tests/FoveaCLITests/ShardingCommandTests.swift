import Foundation
import Testing
import _FoveaTestSupport

/// `--shard K/N` and `fovea merge`: shards merged are the single run, byte for byte.
@Suite struct ShardingCommandTests {
    /// A fresh temporary folder, and the path of a file in it.
    func scratchFolder() throws -> (URL, (String) -> String) {
        let dir = Scratch.url("fovea-shards")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return (dir, { dir.appendingPathComponent($0).path })
    }

    /// Three --shard runs merged are one run, byte for byte (embeddings, labels, paths); merge
    /// refuses a missing, repeated or foreign shard with one line.
    @Test func shardedEmbeddingMergesToTheSingleRun() throws {
        let (dir, file) = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let common = ["embed", "fashion-mnist:test", "--model", "fashion-cnn", "--batch", "700"]
        let one = try fovea(common + ["-o", file("one.npy"), "--labels", file("one-l.npy"), "--paths", file("one.txt")])
        #expect(one.status == 0, "\(one.err)")
        for k in 1...3 {
            let r = try fovea(common + ["--shard", "\(k)/3", "-o", file("p\(k).npy"), "--labels", file("p\(k)-l.npy"), "--paths", file("p\(k).txt")])
            #expect(r.status == 0 && r.out.contains("shard \(k) of 3"), "\(r.out) \(r.err)")
        }
        // 15 batches of 700: shards of 5 batches, so shard 3 is images 7000..<10000.
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file("p3.npy.shard.json")))) as! [String: Any]
        #expect(manifest["rows"] as? [Int] == [7000, 10000] && manifest["total"] as? Int == 10000)
        let m = try fovea(["merge", file("p3.npy"), file("p1.npy"), file("p2.npy"), "-o", file("m.npy"), "--labels", file("m-l.npy"), "--paths", file("m.txt")])
        #expect(m.status == 0, "\(m.err)")
        for (merged, single) in [("m.npy", "one.npy"), ("m-l.npy", "one-l.npy"), ("m.txt", "one.txt")] {
            #expect(try Data(contentsOf: URL(fileURLWithPath: file(merged))) == Data(contentsOf: URL(fileURLWithPath: file(single))), "\(merged)")
        }
        try expectOneLineFailure(["merge", file("p1.npy"), file("p3.npy"), "-o", file("x.npy")], mentions: ["shard 2 of 3 missing"])
        try expectOneLineFailure(["merge", file("p1.npy"), file("p1.npy"), file("p2.npy"), file("p3.npy"), "-o", file("x.npy")], mentions: ["given twice"])
        try expectOneLineFailure(["merge", file("one.npy"), "-o", file("x.npy")], mentions: ["one.npy", "--shard"])
        let other = try fovea(["embed", "fashion-mnist:test", "--model", "fashion-cnn", "--batch", "500", "--shard", "2/3", "-o", file("q2.npy")])
        #expect(other.status == 0, "\(other.err)")
        try expectOneLineFailure(["merge", file("p1.npy"), file("q2.npy"), file("p3.npy"), "-o", file("x.npy")], mentions: ["q2.npy", "batch"])
        try expectOneLineFailure(common + ["--shard", "4/3", "-o", file("y.npy")], mentions: ["--shard"])
        try expectOneLineFailure(common + ["--shard", "1/16", "-o", file("y.npy")], mentions: ["10000 images, 15 batches", "at most 15 shards"])
    }

    /// Three robustness shards merged give the single run's curve and, byte for byte, its plot.
    @Test func shardedRobustnessMergesToTheSingleRun() throws {
        let (dir, file) = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let common = ["robustness", "fashion-mnist:test", "--model", "fashion-cnn", "--method", "pgd", "--steps", "3",
                      "--epsilons", "0,0.1,8/255", "--limit", "700", "--batch", "100"]
        let one = try fovea(common + ["-o", file("one.png"), "--json"])
        #expect(one.status == 0, "\(one.err)")
        for k in 1...3 {
            let r = try fovea(common + ["--shard", "\(k)/3", "-o", file("p\(k).json")])
            #expect(r.status == 0, "\(r.err)")
        }
        let m = try fovea(["merge", file("p2.json"), file("p1.json"), file("p3.json"), "-o", file("m.png"), "--json"])
        #expect(m.status == 0, "\(m.err)")
        func curve(_ text: String) throws -> [String: Any] { try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any] }
        let (single, merged) = (try curve(one.out), try curve(m.out))
        #expect(merged["accuracies"] as? [Double] == single["accuracies"] as? [Double] && merged["images"] as? Int == 700)
        #expect(try Data(contentsOf: URL(fileURLWithPath: file("m.png"))) == Data(contentsOf: URL(fileURLWithPath: file("one.png"))))
        try expectOneLineFailure(common + ["--shard", "1/3", "-o", file("p.png")], mentions: ["-o", ".json"])
    }

    /// Three top-patches shards merged give the single run's grid byte for byte and its report;
    /// the merge refuses another model.
    @Test func shardedTopPatchesMergeToTheSingleRun() throws {
        let (dir, file) = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let common = ["top-patches", "fashion-mnist:test", "--model", "fashion-cnn", "--layer", "features.6",
                      "--top-channels", "4", "--k", "5", "--batch", "1000"]
        let one = try fovea(common + ["-o", file("one.png"), "--json"])
        #expect(one.status == 0, "\(one.err)")
        for k in 1...3 {
            let r = try fovea(common + ["--shard", "\(k)/3", "-o", file("p\(k).json")])
            #expect(r.status == 0, "\(r.err)")
        }
        let m = try fovea(["merge", file("p3.json"), file("p1.json"), file("p2.json"), "--model", "fashion-cnn", "-o", file("m.png"), "--json"])
        #expect(m.status == 0, "\(m.err)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: file("m.png"))) == Data(contentsOf: URL(fileURLWithPath: file("one.png"))))
        func channels(_ text: String) throws -> [[String: Any]] {
            (try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any])["channels"] as! [[String: Any]]
        }
        let (single, merged) = (try channels(one.out), try channels(m.out))
        #expect(merged.map { $0["channel"] as! Int } == single.map { $0["channel"] as! Int } && single.count == 4)
        try expectOneLineFailure(["merge", file("p1.json"), file("p2.json"), file("p3.json"), "-o", file("x.png")],
                                 mentions: ["--model", "fashion-cnn"])
    }

    /// Three explain shards over a folder merged give the single run's grids byte for byte with
    /// shared colour scales (which depend on every image's maps), and its pages and index up to
    /// the per-method timings; a single image cannot be split three ways.
    @Test func shardedExplainMergesToTheSingleRun() throws {
        let (dir, file) = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(atPath: file("in"), withIntermediateDirectories: true)
        let golden = fixtures.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Golden/efficientnet_lite0")
        let stems = ["astronaut_input", "chelsea_input", "coffee_input"]
        for stem in stems {
            try FileManager.default.copyItem(at: golden.appendingPathComponent("\(stem).png"), to: URL(fileURLWithPath: file("in/\(stem).png")))
        }
        let common = ["explain", file("in"), "--crop", "none", "--methods", "gradient,gradcam,integrated-gradients", "--scale", "shared"]
        let one = try fovea(common + ["-o", file("one"), "--json"])
        #expect(one.status == 0, "\(one.err)")
        for k in 1...3 {
            let r = try fovea(common + ["--shard", "\(k)/3", "-o", file("p\(k)")])
            #expect(r.status == 0 && r.out.contains("shard \(k) of 3: images \(k - 1)..<\(k) of 3"), "\(r.out) \(r.err)")
        }
        let m = try fovea(["merge", file("p2"), file("p3"), file("p1"), "-o", file("m"), "--json"])
        #expect(m.status == 0, "\(m.err)")
        // Timings differ from run to run; everything else is the same bytes.
        func untimed(_ text: String) -> String {
            text.replacingOccurrences(of: #"[0-9.]+ s<"#, with: "_ s<", options: .regularExpression)
                .replacingOccurrences(of: #""seconds" ?: ?[0-9.e-]+"#, with: "seconds", options: .regularExpression)
        }
        #expect(untimed(m.out) == untimed(one.out))
        for name in stems.flatMap({ ["\($0).png", "\($0).html"] }) + ["index.html"] {
            let (merged, single) = (try Data(contentsOf: URL(fileURLWithPath: file("m/\(name)"))), try Data(contentsOf: URL(fileURLWithPath: file("one/\(name)"))))
            if name.hasSuffix(".png") {
                #expect(merged == single, "\(name)")
            } else {
                #expect(untimed(String(decoding: merged, as: UTF8.self)) == untimed(String(decoding: single, as: UTF8.self)), "\(name)")
            }
        }
        try expectOneLineFailure(["explain", file("in/chelsea_input.png"), "--shard", "1/3", "-o", file("x")], mentions: ["--shard", "1 image", "at most 1"])
        try expectOneLineFailure(["merge", file("p1"), file("p2"), file("p3")], mentions: ["-o"])
    }
}

import Foundation
import Testing
import Yams

/// The job files in docs/ run the shards the way `fovea embed --shard` and `fovea merge` expect.
@Suite struct ShardingDocsTests {
    static let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("docs")

    /// A well-formed batch/v1 Indexed Job whose pod i runs shard i + 1 of N, N = completions.
    @Test func kubernetesManifestIsAnIndexedJobOverEveryShard() throws {
        let text = try String(contentsOf: Self.docs.appendingPathComponent("k8s-embed-job.yaml"), encoding: .utf8)
        let job = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect(job["apiVersion"] as? String == "batch/v1" && job["kind"] as? String == "Job")
        let spec = try #require(job["spec"] as? [String: Any])
        #expect(spec["completionMode"] as? String == "Indexed")
        let completions = try #require(spec["completions"] as? Int)
        #expect(spec["parallelism"] as? Int == completions)
        let pod = try #require((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
        #expect(pod["restartPolicy"] as? String == "Never")     // required of a Job's pods
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        let env = (container["env"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) { $0[$1["name"] as! String] = $1["value"] as? String }
        #expect(env["N"] == String(completions), "N must equal completions")
        let script = try #require((container["args"] as? [String])?.joined(separator: " "))
        #expect(script.contains("K=$((JOB_COMPLETION_INDEX + 1))") && script.contains("--shard \"$K/$N\""))
        let mounts = (container["volumeMounts"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        let volumes = (pod["volumes"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(!mounts.isEmpty && Set(mounts).isSubset(of: volumes))
    }

    /// The Slurm script is valid bash and takes its shard from the array task.
    @Test func slurmScriptRunsTheArrayTasksShard() throws {
        let path = Self.docs.appendingPathComponent("slurm-embed.sh").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("K=$SLURM_ARRAY_TASK_ID") && text.contains("N=$SLURM_ARRAY_TASK_COUNT") && text.contains("--shard \"$K/$N\""))
        let bash = Process()
        bash.executableURL = URL(fileURLWithPath: "/bin/bash")
        bash.arguments = ["-n", path]
        try bash.run()
        bash.waitUntilExit()
        #expect(bash.terminationStatus == 0, "bash -n \(path)")
    }
}

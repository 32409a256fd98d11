import Dispatch
import Foundation

/// A long computation (the projector's embedding and t-SNE): its progress, which the page
/// streams, and a cancel flag the work polls.
final class Job: @unchecked Sendable {
    enum State: String, Codable { case queued, running, finished, failed, cancelled }

    struct Snapshot: Codable, Sendable {
        let id: String, kind: String, state: State, phase: String
        let done: Int, total: Int
        let error: String?
        let seconds: Double
    }

    let id: String, kind: String, key: String
    private let lock = NSLock()
    private var state = State.queued, phase = "queued", done = 0, total = 0
    private var error: String?
    private var cancelRequested = false
    private let started = Date()

    init(id: String, kind: String, key: String) { (self.id, self.kind, self.key) = (id, kind, key) }

    var snapshot: Snapshot {
        lock.withLock {
            Snapshot(id: id, kind: kind, state: state, phase: phase, done: done, total: total, error: error,
                     seconds: Date().timeIntervalSince(started))
        }
    }

    var isCancelled: Bool { lock.withLock { cancelRequested } }

    var isOver: Bool { lock.withLock { [.finished, .failed, .cancelled].contains(state) } }

    func cancel() { lock.withLock { cancelRequested = true } }

    /// Progress of the current phase; throws `CancellationError` once cancel was asked for.
    func progress(_ phase: String, _ done: Int, _ total: Int) throws {
        try lock.withLock {
            if cancelRequested { throw CancellationError() }
            (self.state, self.phase, self.done, self.total) = (.running, phase, done, total)
        }
    }

    fileprivate func end(_ state: State, error: String? = nil) {
        lock.withLock { (self.state, self.error) = (state, error); if state == .finished { done = total } }
    }
}

/// Long jobs, run one at a time on their own queue so that they never hold up the
/// interactive requests. A job asked for again while its twin (same key) is queued or running
/// is that job, not a second one.
final class JobRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private let queue = DispatchQueue(label: "fovea.viewer.jobs")
    private var jobs: [String: Job] = [:]
    private var counter = 0

    func job(_ id: String) -> Job? { lock.withLock { jobs[id] } }

    func start(kind: String, key: String, _ work: @escaping @Sendable (Job) throws -> Void) -> Job {
        let (job, isNew): (Job, Bool) = lock.withLock {
            if let twin = jobs.values.first(where: { $0.key == key && !$0.isOver }) { return (twin, false) }
            counter += 1
            let job = Job(id: "job-\(counter)", kind: kind, key: key)
            jobs[job.id] = job
            return (job, true)
        }
        guard isNew else { return job }
        queue.async {
            do {
                try job.progress("starting", 0, 1)
                try work(job)
                job.end(.finished)
            } catch is CancellationError {
                job.end(.cancelled)
            } catch {
                job.end(.failed, error: "\(error)")
            }
        }
        return job
    }
}

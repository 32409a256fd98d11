import Foundation

/// A one-line progress bar on stderr, drawn only when stderr is a terminal, and erased when done.
struct ProgressBar {
    let label: String
    let enabled = isatty(2) != 0

    func update(_ done: Int, _ total: Int) { update(done, total, status: "") }

    /// `status` follows the count (for example the running loss and accuracy).
    func update(_ done: Int, _ total: Int, status: String) {
        guard enabled, total > 0 else { return }
        let width = 30, filled = width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        writeStandardError("\r\(label) [\(bar)] \(done)/\(total) \(status)")
        if done == total { writeStandardError("\r\u{1B}[2K") }          // cleared, so results print on a clean line
    }
}

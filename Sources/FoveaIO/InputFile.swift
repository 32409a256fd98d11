import Foundation

/// Checks on a file the user names before anything reads it: it exists, it is a regular file
/// (not a folder, a FIFO that would block, or a device such as /dev/zero that never ends), and
/// it is not larger than the reader accepts.
public enum InputFile {
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// The largest model or weights file Fovea reads (ONNX's protobuf limit is 2 GiB; external
    /// data files are checked on their own).
    public static let modelLimit: UInt64 = 4 << 30

    /// `path` if it is a readable regular file of at most `limit` bytes (symlinks are followed);
    /// otherwise a one-line error naming `path` (and `role`, such as "model file").
    @discardableResult
    public static func check(_ path: String, role: String, limit: UInt64 = modelLimit) throws -> URL {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { throw Problem(description: "\(path): \(role) not found") }
            throw Problem(description: "\(path): \(role) not readable: \(String(cString: strerror(errno)))")
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw Problem(description: "\(path): a folder, not a \(role)")
        case S_IFIFO: throw Problem(description: "\(path): a pipe (FIFO), not a \(role)")
        case S_IFCHR, S_IFBLK: throw Problem(description: "\(path): a device, not a \(role)")
        default: throw Problem(description: "\(path): not a regular file, so not a \(role)")
        }
        guard UInt64(info.st_size) <= limit else {
            throw Problem(description: "\(path): \(info.st_size) bytes; a \(role) may have at most \(limit) bytes")
        }
        guard access(path, R_OK) == 0 else { throw Problem(description: "\(path): \(role) not readable: permission denied") }
        return URL(fileURLWithPath: path)
    }

    /// The first `count` bytes of a checked file (fewer if it is shorter).
    public static func head(_ url: URL, _ count: Int) -> Data {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return Data() }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: count)) ?? Data()
    }
}

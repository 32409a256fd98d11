import Foundation

/// A minimal, read-only zip reader for PyTorch checkpoints: end-of-central-directory (with the
/// zip64 records PyTorch always writes), central directory, local headers, and *stored*
/// (uncompressed) entries with CRC-32 verification. Compressed entries give a clear error.
struct ZipArchive {
    struct Entry {
        var name: String
        var method: UInt16
        var flags: UInt16
        var crc: UInt32
        var compressedSize: Int
        var size: Int
        var localHeaderOffset: Int
    }

    let bytes: [UInt8]
    /// Entries in central-directory order.
    private(set) var entries: [Entry] = []

    /// Whether `bytes` starts like a zip file (a local file header).
    static func looksLikeZip(_ bytes: [UInt8]) -> Bool { bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) }

    init(_ bytes: [UInt8]) throws {
        self.bytes = bytes
        let (count, cdOffset, cdSize) = try Self.findCentralDirectory(bytes)
        guard cdOffset <= bytes.count, cdSize <= bytes.count - cdOffset else {
            throw CheckpointError.short("zip central directory (offset \(cdOffset), \(cdSize) bytes) lies past the end")
        }
        guard count <= cdSize / 46 else { throw CheckpointError.bad("zip declares \(count) entries in a \(cdSize)-byte directory") }
        var c = ByteCursor(bytes, from: cdOffset, to: cdOffset + cdSize)
        for _ in 0..<count {
            guard try c.le(4, "zip central directory header") == 0x0201_4B50 else {
                throw CheckpointError.bad("zip central directory entry has a bad signature")
            }
            _ = try c.take(4, "zip central directory header")
            let flags = UInt16(try c.le(2, "zip entry flags")), method = UInt16(try c.le(2, "zip entry method"))
            _ = try c.take(4, "zip entry time")
            let crc = UInt32(try c.le(4, "zip entry crc"))
            var compressed = try c.le(4, "zip entry size"), size = try c.le(4, "zip entry size")
            let nameLength = try c.length(2, "zip name"), extraLength = try c.length(2, "zip extra")
            let commentLength = try c.length(2, "zip comment")
            _ = try c.take(8, "zip entry attributes")
            var offset = try c.le(4, "zip local header offset")
            let name = String(decoding: bytes[try c.take(nameLength, "zip entry name")], as: UTF8.self)
            var extra = ByteCursor(bytes, from: c.pos, to: try c.take(extraLength, "zip extra field").upperBound)
            _ = try c.take(commentLength, "zip entry comment")
            while extra.remaining >= 4 {
                let id = try extra.le(2, "zip extra id"), length = try extra.length(2, "zip extra length")
                var field = ByteCursor(bytes, from: extra.pos, to: try extra.take(length, "zip extra field").upperBound)
                guard id == 0x0001 else { continue }   // zip64: only the fields saturated above are present
                if size == 0xFFFF_FFFF { size = try field.le(8, "zip64 size") }
                if compressed == 0xFFFF_FFFF { compressed = try field.le(8, "zip64 compressed size") }
                if offset == 0xFFFF_FFFF { offset = try field.le(8, "zip64 local header offset") }
            }
            let limit = UInt64(bytes.count)   // deflate expands at most ~1032x; stored entries not at all
            guard size <= limit * 1032, compressed <= limit, offset <= limit else {
                throw CheckpointError.short("zip entry \(oneLine(name, limit: 80)) lies past the end of the file")
            }
            entries.append(Entry(name: name, method: method, flags: flags, crc: crc, compressedSize: Int(compressed),
                                 size: Int(size), localHeaderOffset: Int(offset)))
        }
    }

    /// (entry count, central directory offset, central directory size), from the EOCD record and,
    /// where present, the zip64 EOCD record.
    private static func findCentralDirectory(_ bytes: [UInt8]) throws -> (Int, Int, Int) {
        let lowest = max(0, bytes.count - 22 - 0xFFFF)
        var at = bytes.count - 22
        while at >= lowest {
            if bytes[at] == 0x50, bytes[at + 1] == 0x4B, bytes[at + 2] == 0x05, bytes[at + 3] == 0x06 { break }
            at -= 1
        }
        guard at >= lowest else { throw CheckpointError.short("zip end-of-central-directory record not found") }
        var c = ByteCursor(bytes, from: at + 10)
        var count = try c.le(2, "zip EOCD"), size = try c.le(4, "zip EOCD"), offset = try c.le(4, "zip EOCD")
        if at >= 20 {
            var locator = ByteCursor(bytes, from: at - 20, to: at)
            if try locator.le(4, "zip64 locator") == 0x0706_4B50 {
                _ = try locator.take(4, "zip64 locator")
                let recordOffset = try locator.length(8, "zip64 EOCD offset")
                var record = ByteCursor(bytes, from: recordOffset, to: at - 20)
                guard recordOffset < at - 20, try record.le(4, "zip64 EOCD") == 0x0606_4B50 else {
                    throw CheckpointError.bad("zip64 end-of-central-directory record is missing or damaged")
                }
                _ = try record.take(28, "zip64 EOCD")
                count = try record.le(8, "zip64 EOCD"); size = try record.le(8, "zip64 EOCD")
                offset = try record.le(8, "zip64 EOCD")
            }
        }
        let limit = UInt64(bytes.count)
        guard count <= limit, size <= limit, offset <= limit else {
            throw CheckpointError.short("zip central directory lies past the end of the file")
        }
        return (Int(count), Int(offset), Int(size))
    }

    /// The entry called `name`, if any.
    func entry(_ name: String) -> Entry? { entries.first { $0.name == name } }

    /// The byte range of a stored entry's contents, after checking its local header and CRC-32.
    func contents(of entry: Entry) throws -> Range<Int> {
        let name = oneLine(entry.name, limit: 80)
        guard entry.flags & 1 == 0 else { throw CheckpointError.unsupported(file: "", detail: "zip entry \(name) is encrypted") }
        guard entry.method == 0 else {
            let how = entry.method == 8 ? "deflate" : "method \(entry.method)"
            throw CheckpointError.unsupported(file: "", detail: "zip entry \(name) is compressed with \(how); "
                                              + "only stored (uncompressed) entries are read, as torch.save writes them")
        }
        guard entry.size == entry.compressedSize else {
            throw CheckpointError.bad("stored zip entry \(name) has different compressed and plain sizes")
        }
        var c = ByteCursor(bytes, from: entry.localHeaderOffset)
        guard try c.le(4, "zip local header of \(name)") == 0x0403_4B50 else {
            throw CheckpointError.bad("zip local header of \(name) has a bad signature")
        }
        _ = try c.take(22, "zip local header of \(name)")
        let nameLength = try c.length(2, "zip local header"), extraLength = try c.length(2, "zip local header")
        _ = try c.take(nameLength, "zip local header of \(name)")
        _ = try c.take(extraLength, "zip local header of \(name)")
        let range = try c.take(entry.size, "zip entry \(name)")
        guard crc32(bytes[range]) == entry.crc else { throw CheckpointError.bad("zip entry \(name) fails its CRC-32 check") }
        return range
    }
}

private let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

/// CRC-32 (IEEE 802.3, as zip uses it).
func crc32(_ data: ArraySlice<UInt8>) -> UInt32 {
    crcTable.withUnsafeBufferPointer { table in
        data.withUnsafeBufferPointer { buf in
            var c: UInt32 = 0xFFFF_FFFF
            for b in buf { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
            return c ^ 0xFFFF_FFFF
        }
    }
}

/// The stored entries of a zip file (Keras 3 `.keras` archives, like PyTorch's, store them
/// uncompressed).
public enum ZipFile {
    /// The contents of the entries `names` of the zip file at `url`, read once; names the
    /// archive lacks are absent from the result.
    public static func entries(_ names: [String], of url: URL) throws -> [String: Data] {
        let archive = try ZipArchive(Array(try Data(contentsOf: url)))
        var out: [String: Data] = [:]
        for name in names {
            guard let entry = archive.entry(name) else { continue }
            out[name] = Data(archive.bytes[try archive.contents(of: entry)])
        }
        return out
    }

    /// The names of the zip file's entries (without reading their contents).
    public static func names(of url: URL) throws -> [String] {
        try ZipArchive(Array(try Data(contentsOf: url))).entries.map(\.name)
    }
}

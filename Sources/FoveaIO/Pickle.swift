import Foundation

/// A restricted unpickler for PyTorch checkpoints (pickle protocols 0-5).
///
/// It interprets the opcodes itself and never executes anything: GLOBAL / STACK_GLOBAL resolve
/// only against ``PickleGlobal``'s allow list (OrderedDict, the `torch._utils._rebuild_*`
/// functions, storage classes, dtypes), and any other global fails with
/// ``CheckpointError/forbiddenGlobal(file:name:)`` as soon as it is named. Calls (REDUCE, NEWOBJ)
/// are interpreted for those globals only. Every read is bounds-checked.
final class Unpickler {
    /// Turns a persistent id (BINPERSID / PERSID) into a value, typically ``PickleValue/storage(_:)``.
    typealias PersistentLoad = (PickleValue) throws -> PickleValue

    private var cursor: ByteCursor
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    /// Every container created, so that they can be emptied without recursion at the end.
    private var containers: [AnyObject] = []
    private let persistentLoad: PersistentLoad?

    private init(_ cursor: ByteCursor, persistentLoad: PersistentLoad?) {
        self.cursor = cursor
        self.persistentLoad = persistentLoad
    }

    /// Unpickles one pickle starting at `start` and passes the result to `body`; the containers
    /// of the result are only valid inside `body`. Returns `body`'s result and the offset just
    /// past the STOP opcode.
    static func load<T>(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil,
                        persistentLoad: PersistentLoad? = nil,
                        _ body: (PickleValue) throws -> T) throws -> (result: T, end: Int) {
        let u = Unpickler(ByteCursor(bytes, from: start, to: end), persistentLoad: persistentLoad)
        defer { u.dismantle() }
        let value = try u.run()
        return (try body(value), u.cursor.pos)
    }

    private func dismantle() {
        stack = []; memo = [:]
        for c in containers {
            if let l = c as? PickleList { l.items = [] } else if let d = c as? PickleDict { d.removeAll() }
        }
        containers = []
    }

    // MARK: Stack helpers

    private func push(_ v: PickleValue) { stack.append(v) }

    private func pop() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0) else { throw bad("pops an empty stack") }
        return stack.removeLast()
    }

    private func top() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0) else { throw bad("reads an empty stack") }
        return stack[stack.count - 1]
    }

    private func popMark() throws -> [PickleValue] {
        guard let m = marks.popLast() else { throw bad("has no MARK to pop") }
        defer { stack.removeSubrange(m...) }
        return Array(stack[m...])
    }

    private func list(_ items: [PickleValue] = []) -> PickleList {
        let l = PickleList(items); containers.append(l); return l
    }

    private func dict(_ pairs: [PickleValue] = []) throws -> PickleDict {
        let d = PickleDict(); containers.append(d)
        guard pairs.count % 2 == 0 else { throw bad("has an odd number of dict items") }
        for i in stride(from: 0, to: pairs.count, by: 2) { d.set(pairs[i], pairs[i + 1]) }
        return d
    }

    private func bad(_ what: String) -> CheckpointError {
        .bad("pickle \(what) (offset \(cursor.pos))")
    }

    // MARK: Reading helpers

    private func text(_ r: Range<Int>) -> String { String(decoding: cursor.bytes[r], as: UTF8.self) }
    private func lineText(_ what: String) throws -> String { String(decoding: try cursor.line(what), as: UTF8.self) }

    private func sized(_ width: Int, _ what: String) throws -> Range<Int> {
        let n = try cursor.length(width, what)
        return try cursor.take(n, what)
    }

    /// Little-endian two's complement bytes (LONG1 / LONG4) as Int, or `.bigInt`.
    private func long(_ r: Range<Int>) -> PickleValue {
        let b = Array(cursor.bytes[r])
        guard let lastByte = b.last else { return .int(0) }
        let fill: UInt8 = lastByte & 0x80 != 0 ? 0xFF : 0
        if b.count > 8 && !(b[8...].allSatisfy { $0 == fill } && (b[7] & 0x80) == (fill & 0x80)) { return .bigInt(b) }
        var v: UInt64 = 0
        for i in (0..<8).reversed() { v = v << 8 | UInt64(i < b.count ? b[i] : fill) }
        return .int(Int(Int64(bitPattern: v)))
    }

    private func memoKey(_ width: Int) throws -> Int { Int(try cursor.le(width, "memo index")) }

    private func get(_ key: Int) throws -> PickleValue {
        guard let v = memo[key] else { throw bad("reads memo entry \(key), which was never stored") }
        return v
    }

    private func global(module: String, name: String) throws -> PickleValue {
        guard let g = PickleGlobal.resolve(module: module, name: name) else {
            throw CheckpointError.forbiddenGlobal(file: "", name: oneLine(module + "." + name, limit: 120))
        }
        return .global(g)
    }

    /// Python 2 `STRING` argument: a quoted literal with backslash escapes.
    private func quoted(_ s: String) throws -> String {
        guard s.count >= 2, let q = s.first, q == "'" || q == "\"", s.last == q else { throw bad("STRING is not quoted") }
        var out = "", chars = Array(s.dropFirst().dropLast()), i = 0
        while i < chars.count {
            let c = chars[i]; i += 1
            guard c == "\\", i < chars.count else { out.append(c); continue }
            let e = chars[i]; i += 1
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "x" where i + 2 <= chars.count:
                if let v = UInt8(String(chars[i..<i + 2]), radix: 16) { out.unicodeScalars.append(.init(v)) }
                i += 2
            default: out.append(e)
            }
        }
        return out
    }

    // MARK: Main loop

    private func run() throws -> PickleValue {
        while true {
            let at = cursor.pos
            let op = try cursor.u8("pickle opcode")
            switch op {
            case 0x80: _ = try cursor.u8("PROTO")                                  // PROTO
            case 0x95: _ = try cursor.le(8, "FRAME")                               // FRAME
            case 0x2E: return try pop()                                            // STOP
            case 0x28: marks.append(stack.count)                                   // MARK
            case 0x30:                                                             // POP
                if let m = marks.last, m == stack.count { marks.removeLast() } else { _ = try pop() }
            case 0x31: _ = try popMark()                                           // POP_MARK
            case 0x32: push(try top())                                             // DUP
            case 0x4E: push(.none)                                                 // NONE
            case 0x88: push(.bool(true))                                           // NEWTRUE
            case 0x89: push(.bool(false))                                          // NEWFALSE
            case 0x49:                                                             // INT
                let s = try lineText("INT")
                if s == "00" || s == "01" { push(.bool(s == "01")); break }
                guard let v = Int(s) else { throw bad("INT \(oneLine(s, limit: 40)) is not an integer") }
                push(.int(v))
            case 0x4C:                                                             // LONG
                let s = try lineText("LONG")
                guard let v = Int(s.hasSuffix("L") ? String(s.dropLast()) : s) else {
                    throw CheckpointError.unsupported(file: "", detail: "pickle LONG \(oneLine(s, limit: 40)) is too large")
                }
                push(.int(v))
            case 0x4A: push(.int(Int(Int32(truncatingIfNeeded: try cursor.le(4, "BININT")))))
            case 0x4B: push(.int(Int(try cursor.u8("BININT1"))))
            case 0x4D: push(.int(Int(try cursor.le(2, "BININT2"))))
            case 0x8A: push(long(try sized(1, "LONG1")))
            case 0x8B: push(long(try sized(4, "LONG4")))
            case 0x46:                                                             // FLOAT
                let s = try lineText("FLOAT")
                guard let v = Double(s) else { throw bad("FLOAT \(oneLine(s, limit: 40)) is not a number") }
                push(.float(v))
            case 0x47: push(.float(Double(bitPattern: UInt64(bigEndian: try cursor.le(8, "BINFLOAT")))))
            case 0x53: push(.string(try quoted(try lineText("STRING"))))             // STRING
            case 0x56: push(.string(try lineText("UNICODE")))                        // UNICODE
            case 0x54: push(.string(text(try sized(4, "BINSTRING"))))
            case 0x55: push(.string(text(try sized(1, "SHORT_BINSTRING"))))
            case 0x58: push(.string(text(try sized(4, "BINUNICODE"))))
            case 0x8C: push(.string(text(try sized(1, "SHORT_BINUNICODE"))))
            case 0x8D: push(.string(text(try sized(8, "BINUNICODE8"))))
            case 0x42: push(.bytes(Array(cursor.bytes[try sized(4, "BINBYTES")])))
            case 0x43: push(.bytes(Array(cursor.bytes[try sized(1, "SHORT_BINBYTES")])))
            case 0x8E: push(.bytes(Array(cursor.bytes[try sized(8, "BINBYTES8")])))
            case 0x96: push(.bytes(Array(cursor.bytes[try sized(8, "BYTEARRAY8")])))
            case 0x29: push(.tuple(list()))                                        // EMPTY_TUPLE
            case 0x74: push(.tuple(list(try popMark())))                           // TUPLE
            case 0x85, 0x86, 0x87:                                                 // TUPLE1/2/3
                var items: [PickleValue] = []
                for _ in 0..<Int(op - 0x84) { items.insert(try pop(), at: 0) }
                push(.tuple(list(items)))
            case 0x5D: push(.list(list()))                                         // EMPTY_LIST
            case 0x6C: push(.list(list(try popMark())))                            // LIST
            case 0x8F: push(.list(list()))                                         // EMPTY_SET
            case 0x91: push(.tuple(list(try popMark())))                           // FROZENSET
            case 0x61, 0x65, 0x90:                                                 // APPEND, APPENDS, ADDITEMS
                let items = op == 0x61 ? [try pop()] : try popMark()
                guard case .list(let l) = try top() else { throw bad("appends to a \(try top().kind)") }
                l.items.append(contentsOf: items)
            case 0x7D: push(.dict(try dict()))                                     // EMPTY_DICT
            case 0x64: push(.dict(try dict(try popMark())))                        // DICT
            case 0x73, 0x75:                                                       // SETITEM, SETITEMS
                var pairs: [PickleValue]
                if op == 0x73 { let v = try pop(); pairs = [try pop(), v] } else { pairs = try popMark() }
                guard case .dict(let d) = try top() else { throw bad("sets items on a \(try top().kind)") }
                guard pairs.count % 2 == 0 else { throw bad("has an odd number of dict items") }
                for i in stride(from: 0, to: pairs.count, by: 2) { d.set(pairs[i], pairs[i + 1]) }
            case 0x70:                                                             // PUT
                guard let k = Int(try lineText("PUT")) else { throw bad("PUT index is not an integer") }
                memo[k] = try top()
            case 0x71: memo[try memoKey(1)] = try top()                            // BINPUT
            case 0x72: memo[try memoKey(4)] = try top()                            // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()                                // MEMOIZE
            case 0x67:                                                             // GET
                guard let k = Int(try lineText("GET")) else { throw bad("GET index is not an integer") }
                push(try get(k))
            case 0x68: push(try get(try memoKey(1)))                               // BINGET
            case 0x6A: push(try get(try memoKey(4)))                               // LONG_BINGET
            case 0x63:                                                             // GLOBAL
                let module = try lineText("GLOBAL module"), name = try lineText("GLOBAL name")
                push(try global(module: module, name: name))
            case 0x93:                                                             // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard let n = name.stringValue, let m = module.stringValue else { throw bad("STACK_GLOBAL needs two strings") }
                push(try global(module: m, name: n))
            case 0x69:                                                             // INST
                let module = try lineText("INST module"), name = try lineText("INST name")
                let cls = try global(module: module, name: name)
                push(try instantiate(cls, try popMark()))
            case 0x6F:                                                             // OBJ
                var items = try popMark()
                guard !items.isEmpty else { throw bad("OBJ has no class") }
                let cls = items.removeFirst()
                push(try instantiate(cls, items))
            case 0x52:                                                             // REDUCE
                let args = try pop(), callable = try pop()
                guard let a = args.items else { throw bad("REDUCE arguments are a \(args.kind), not a tuple") }
                push(try call(callable, a))
            case 0x81, 0x92:                                                       // NEWOBJ, NEWOBJ_EX
                if op == 0x92, case .dict(let kw) = try pop(), !kw.entries.isEmpty { throw bad("NEWOBJ_EX has keyword arguments") }
                let args = try pop(), cls = try pop()
                guard let a = args.items else { throw bad("NEWOBJ arguments are a \(args.kind), not a tuple") }
                push(try instantiate(cls, a))
            case 0x62:                                                             // BUILD
                _ = try pop()
                switch try top() {
                case .dict, .list, .tensor: break   // state (e.g. OrderedDict._metadata) is not needed
                default: throw bad("BUILD on a \(try top().kind)")
                }
            case 0x50, 0x51:                                                       // PERSID, BINPERSID
                let pid: PickleValue = op == 0x50 ? .string(try lineText("PERSID")) : try pop()
                guard let persistentLoad else { throw bad("has a persistent id but none is expected") }
                push(try persistentLoad(pid))
            case 0x82, 0x83, 0x84:
                throw CheckpointError.unsupported(file: "", detail: "pickle uses the extension registry (EXT opcodes)")
            case 0x97, 0x98:
                throw CheckpointError.unsupported(file: "", detail: "pickle uses out-of-band buffers (protocol 5)")
            default:
                throw CheckpointError.bad("pickle has unknown opcode 0x\(String(op, radix: 16)) at offset \(at)")
            }
        }
    }

    // MARK: Interpreting allow-listed calls

    /// `cls(*args)` / `cls.__new__(cls, *args)` for NEWOBJ, INST and OBJ.
    private func instantiate(_ cls: PickleValue, _ args: [PickleValue]) throws -> PickleValue {
        guard case .global(let g) = cls else { throw bad("instantiates a \(cls.kind)") }
        if case .orderedDict = g { return .dict(try dict()) }
        return try call(cls, args)
    }

    /// The result of calling an allow-listed global with positional `args`.
    private func call(_ callable: PickleValue, _ args: [PickleValue]) throws -> PickleValue {
        guard case .global(let g) = callable else { throw bad("calls a \(callable.kind)") }
        let malformed = bad("calls \(g.name) with unexpected arguments")
        switch g {
        case .orderedDict:
            let d = try dict()
            if let pairs = args.first?.items {
                for pair in pairs {
                    guard let kv = pair.items, kv.count == 2 else { throw malformed }
                    d.set(kv[0], kv[1])
                }
            }
            return .dict(d)
        case .rebuildTensor, .rebuildTensorV2, .rebuildTensorV3:
            guard args.count >= 4, case .storage(let s) = args[0], let offset = args[1].intValue,
                  let shape = args[2].intItems, let strides = args[3].intItems else { throw malformed }
            var dtype = s.dtype
            if case .rebuildTensorV3 = g {
                guard args.count >= 7, case .global(.dtype(let t)) = args[6] else { throw malformed }
                dtype = t
            }
            guard s.untyped || dtype == s.dtype else { throw malformed }
            return .tensor(TensorRef(storage: s, offset: offset, shape: shape, strides: strides, dtype: dtype))
        case .rebuildParameter, .rebuildParameterWithState:
            guard let data = args.first, case .tensor = data else { throw malformed }
            return data
        case .rebuildFromTypeV2:
            guard args.count >= 3, case .global = args[0], let inner = args[2].items else { throw malformed }
            return try call(args[0], inner)
        case .device:
            guard let name = args.first?.stringValue else { throw malformed }
            return .string(name)
        case .size:
            guard let dims = args.first?.intItems else { throw malformed }
            return .tuple(list(dims.map { .int($0) }))
        case .getLayout:
            guard let name = args.first?.stringValue, name == "torch.strided" else { throw malformed }
            return .global(.layout("strided"))
        case .tensorClass, .storageType, .dtype, .layout:
            throw bad("calls \(g.name), which is not supported")
        }
    }
}

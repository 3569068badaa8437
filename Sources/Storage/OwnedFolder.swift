// The mark gasa leaves in every folder it creates (a prepared folder, a run folder), and the look
// --force takes before it replaces one: the mark must be there, and every entry inside, at any depth,
// must be one gasa writes there and of the kind it writes (a file where it writes a file, a folder
// where it writes a folder; never a link). It does not delete anything itself.
#if canImport(Glibc)
import Glibc
#endif

public enum OwnedFolder {
    /// The mark's file name inside an owned folder (hidden, so folder walks of inputs skip it).
    public static let markFile = ".gasa-folder"

    public enum Kind: String, Sendable {
        case prepared, run
        var line: String { "gasa \(rawValue) folder\n" }
    }

    public enum EntryKind: Sendable { case file, directory, other }

    /// Writes the mark into `dir` (atomically).
    public static func mark(_ dir: String, as kind: Kind) throws {
        try AtomicFile.write(Array(kind.line.utf8), to: dir + "/" + markFile)
    }

    /// Whether `dir` is a real folder (not a link) holding the mark of `kind` as a regular file.
    public static func isMarked(_ dir: String, as kind: Kind) -> Bool {
        guard entryKind(dir) == .directory, entryKind(dir + "/" + markFile) == .file,
              let bytes = try? readFileBytes(dir + "/" + markFile, limit: 256) else { return false }
        return bytes == Array(kind.line.utf8)
    }

    /// The file gasa puts in a folder it is building (NAME.tmp-PID) or sets aside (NAME.old-PID), holding
    /// its process id: what tells gasa's own leftovers from a user's folder that only has such a name
    /// (a backup renamed by hand, say).
    public static let leftoverFile = ".gasa-leftover"

    /// Records this process in `dir` as the one building it or setting it aside.
    public static func markLeftover(_ dir: String) throws {
        try AtomicFile.write(Array("\(getpid())\n".utf8), to: dir + "/" + leftoverFile)
    }

    /// Removes that record (the folder is in place again).
    public static func clearLeftover(_ dir: String) { unlink(dir + "/" + leftoverFile) }

    /// Whether `path` (NAME.tmp-PID or NAME.old-PID) is a leftover of a gasa process that is gone: its
    /// record names the same process as its name, and that process no longer runs.
    public static func isStaleLeftover(_ path: String) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard leftoverBase(name) != nil, let dash = name.lastIndex(of: "-"), let pid = Int32(name[name.index(after: dash)...]),
              pid != getpid(), entryKind(path + "/" + leftoverFile) == .file,
              let bytes = try? readFileBytes(path + "/" + leftoverFile, limit: 64),
              Array("\(pid)\n".utf8) == bytes else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    /// What is at `path`, links not followed (a link is .other; nothing there is nil).
    public static func entryKind(_ path: String) -> EntryKind? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// The names in a folder (nil when it cannot be listed), in byte order.
    public static func names(in dir: String) -> [String]? {
        guard let d = opendir(dir) else { return nil }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// The first entry under `dir` (a path relative to it) that `expected` does not accept, looking inside
    /// every accepted folder too; nil when all are accepted. `expected` gets the relative path and the
    /// entry's kind; an unlistable folder counts as foreign.
    public static func firstForeign(in dir: String, expected: (_ relative: String, _ kind: EntryKind) -> Bool) -> String? {
        func walk(_ rel: String) -> String? {
            let full = rel.isEmpty ? dir : dir + "/" + rel
            guard let names = names(in: full) else { return rel.isEmpty ? "." : rel }
            for n in names {
                let r = rel.isEmpty ? n : rel + "/" + n
                guard let kind = entryKind(dir + "/" + r), expected(r, kind) else { return r }
                if kind == .directory, let f = walk(r) { return f }
            }
            return nil
        }
        return walk("")
    }
}

// The folders gasa owns (a prepared folder and a run folder, marked; the checkpoint folders inside a run)
// and how one is replaced, in one place for prepare, train and checkpoints: the mark gasa leaves in the
// folders it creates; the look --force takes before it replaces one (the mark must be there, and every
// entry inside, at any depth, must be one gasa writes there and of the kind it writes: a file where it
// writes a file, a folder where it writes a folder, never a link; and it must not hold what the run
// still needs or the working directory); and the moves of a replacement (the old folder set aside under
// a name that says whose it is, the new one renamed into place, the old one removed or put back).
import Foundation
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
        guard leftoverBase(name) != nil, let dash = name.lastIndex(of: "-"),
            let pid = Int32(name[name.index(after: dash)...]),
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
    public static func firstForeign(in dir: String, expected: (_ relative: String,
                                                               _ kind: EntryKind) -> Bool) -> String? {
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

    /// Why `path`, which exists, may not be replaced as a folder of `kind`, or nil when it may: it is
    /// empty, or `isOwned` (its mark and entries checked by the caller, who knows what it writes there),
    /// and holds none of `keeping` (what the new folder is made from) nor the working directory.
    /// `foreign` names the first entry gasa does not write, for the message.
    public static func replaceProblem(_ path: String, as kind: Kind, isOwned: Bool, foreign: () -> String?,
                                      keeping: [(path: String, what: String)]) -> String? {
        let what = kind == .prepared ? "prepared folders" : "run folders"
        let writer = kind == .prepared ? "gasa prepare" : "gasa train"
        guard entryKind(path) == .directory, let entries = names(in: path) else {
            return "\(path) exists and is a link or not a folder, or cannot be listed; --force only replaces \(what). "
                + "Choose another --out"
        }
        let targets = [canonicalPath(path), lexicalPath(path)]
        func heldProblem() -> String? {
            for k in keeping + [(FileManager.default.currentDirectoryPath, "the working directory")] {
                for r in [canonicalPath(k.path),
                          lexicalPath(k.path)] where targets.contains(where: { r == $0 || r.hasPrefix($0 + "/") }) {
                    return "\(path) holds \(k.what); --force would delete it. Choose another --out"
                }
            }
            return nil
        }
        // A prepare's --out may hold its own input (the likeliest mistake there): that is said first.
        if kind == .prepared, let p = heldProblem() { return p }
        guard entries.isEmpty || isOwned else {
            let why: String
            if !isMarked(path, as: kind) && !entries.contains(where: { isMarked(path + "/" + $0, as: kind) }) {
                why = " (it has no \(markFile) mark of \(writer): not written by it, or by a gasa before marks; "
                    + "remove it yourself if it is to go)"
            } else if let f = foreign() {
                why = " (it holds \(path)/\(f), which \(writer) does not write)"
            } else {
                why = ""
            }
            let name = kind == .prepared ? "a prepared folder" : "a gasa run folder"
            return "\(path) exists and is not \(name)" + why + "; --force only replaces \(what). Choose another --out"
        }
        return heldProblem()
    }
}

/// An owned folder moved out of the way while its replacement is made: NAME becomes NAME.old-PID, with
/// this process recorded inside first, so that if the process dies before the replacement is done,
/// the next gasa can tell it from a user's folder and put it back (or remove it once it is replaced).
public struct SetAsideFolder {
    public let original: String
    public let aside: String

    /// Moves `path` aside; `record` writes the process record into it first (callers pass it only for a
    /// folder that bears gasa's mark; an empty folder of the user's gets no record).
    public init(_ path: String, record: Bool) throws {
        original = path
        aside = path + ".old-\(getpid())"
        guard OwnedFolder.entryKind(aside) == nil else {
            throw FileError(aside, "is in the way of replacing \(path); move it away and try again")
        }
        if record { try OwnedFolder.markLeftover(path) }
        try FileManager.default.moveItem(atPath: path, toPath: aside)
    }

    /// The replacement failed: whatever is at the original name goes, and the old folder comes back.
    public func putBack() {
        try? FileManager.default.removeItem(atPath: original)
        if (try? moveFolderIntoPlace(aside, original)) != nil { OwnedFolder.clearLeftover(original) }
    }

    /// The replacement is in place: the old folder goes.
    public func discard() { try? FileManager.default.removeItem(atPath: aside) }
}

/// Renames a folder to `destination` (which must not exist) in the same parent, and makes the rename
/// durable: a folder built beside its destination moved into place, or one moved aside or back.
public func moveFolderIntoPlace(_ built: String, _ destination: String) throws {
    guard rename(built, destination) == 0 else {
        throw FileError(built, "cannot rename to \(destination): \(String(cString: strerror(errno)))")
    }
    syncDirectory(of: destination)
}

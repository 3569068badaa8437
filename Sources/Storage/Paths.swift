// Paths and folders as gasa handles them: existence and kind without following links, the lexical and
// canonical forms of a path (to tell whether one folder holds another), trailing slashes, mkdir -p,
// recursive removal, and the names an interrupted write leaves beside its target (NAME.tmp-PID, NAME.old-PID).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// NAME for a name that an interrupted write or replacement leaves behind, NAME + mark + PID (marks
/// ".tmp-": AtomicFile's temporary files and folders; ".old-": a folder set aside while replaced), else nil.
public func leftoverBase(_ name: String, marks: [String] = [".tmp-", ".old-"]) -> String? {
    let bytes = Array(name.utf8)
    for mark in marks.map({ Array($0.utf8) }) {
        var i = bytes.count - mark.count   // the last occurrence of the mark
        while i >= 0 && !bytes[i..<(i + mark.count)].elementsEqual(mark) { i -= 1 }
        guard i >= 0 else { continue }
        let digits = bytes[(i + mark.count)...]
        if !digits.isEmpty && digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            return String(decoding: bytes[..<i], as: UTF8.self)
        }
    }
    return nil
}

/// A path's folder and last name, split by hand (trailing slashes name the same entry; a bare name lies in
/// "."): `listing` is the folder to list for its siblings, `join` makes a sibling's path.
public func pathSiblings(_ path: String) -> (base: String, listing: String, join: (String) -> String) {
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return (String(trimmed), ".", { $0 }) }
    let parent = String(trimmed[..<slash]), base = String(trimmed[trimmed.index(after: slash)...])
    return (base, parent.isEmpty ? "/" : parent, { parent + "/" + $0 })
}

/// Whether `path` itself is a symbolic link (dangling or not).
public func isSymbolicLink(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
}

/// `path` without trailing slashes ("prep/" -> "prep"; "/" stays), so that names built from it
/// ("prep.tmp-1") land beside the folder, not inside it.
public func withoutTrailingSlashes(_ path: String) -> String {
    var p = Substring(path)
    while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
    return String(p)
}

/// `path` made absolute against the working directory with "." and ".." removed by name, links not
/// followed: where a path points by its spelling (canonicalPath says where it leads).
public func lexicalPath(_ path: String) -> String {
    var base: [Substring] = []
    if !path.hasPrefix("/") {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        if getcwd(&buffer, buffer.count) != nil {
            base = String(cString: buffer).split(separator: "/")
        }
    }
    for part in path.split(separator: "/") {
        if part == "." { continue }
        if part == ".." { if !base.isEmpty { base.removeLast() }; continue }
        base.append(part)
    }
    return "/" + base.joined(separator: "/")
}

/// The absolute path with symbolic links, "." and ".." resolved (the path as given if it cannot be).
public func canonicalPath(_ path: String) -> String {
    guard let r = realpath(path, nil) else { return path }
    defer { free(r) }
    return String(cString: r)
}

public func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

/// mkdir -p.
public func makeDirectories(_ path: String) throws {
    if isDirectory(path) { return }
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
        prefix += part
        if !isDirectory(prefix), mkdir(prefix, 0o755) != 0, errno != EEXIST {
            throw FileError.errno(prefix, "cannot create directory")
        }
        prefix += "/"
    }
}

/// The size of a file in bytes (0 when it cannot be read).
public func fileSize(_ path: String) -> Int {
    var st = stat()
    return stat(path, &st) == 0 ? Int(st.st_size) : 0
}

/// rm -r of a file, folder or link; nothing there is not an error.
public func removeTree(_ path: String) throws {
    if fileExists(path) || isSymbolicLink(path) { try FileManager.default.removeItem(atPath: path) }
}

/// An absolute, standardised form of `path` (for recording where data came from).
public func absolutePath(_ path: String) -> String {
    let p = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    return (p as NSString).standardizingPath
}

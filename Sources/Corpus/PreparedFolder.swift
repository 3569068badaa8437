// The output folder of gasa prepare: what it may replace (--force), what it writes there, and how it
// gets there. The work happens in OUT.tmp-PID beside the output, marked as prepare's and as this
// process's leftover until it is renamed into place; Ctrl-C or SIGTERM removes it; a run killed outright
// leaves it for the next prepare of the same output to remove (or, for OUT.old-PID, to put back).
import Common
import Foundation
import Storage

final class PreparedFolder {
    let output: String
    /// The folder being written (renamed to `output` by commit()).
    let temp: String
    /// Notes on leftovers of interrupted prepares that were cleaned up, for the report.
    let leftoverNotes: [String]
    private var committed = false
    private var armed = false

    /// Checks that `output` may be written (new, or replaceable with `force`), creates the temporary
    /// folder and arms the signal handlers that remove it (and `removeOnInterrupt`).
    init(output: String, force: Bool, inputs: [String], removeOnInterrupt: [String]) throws {
        self.output = output
        leftoverNotes = PreparedFolder.cleanLeftovers(of: output)
        if fileExists(output) || isSymbolicLink(output) {
            guard force else {
                throw CorpusError.badInput("\(output) already exists; choose another --out or add --force to "
                                           + "replace it")
            }
            try PreparedFolder.checkReplaceable(output, inputs: inputs)
        }
        temp = output + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: temp)
        do { try makeDirectories(temp) } catch {
            // The error names the temporary folder beside the output; the user knows the output's name.
            throw CorpusError.badInput("\(error)".replacingOccurrences(of: temp,
                                                                       with: output) + "; choose another --out")
        }
        do {
            try OwnedFolder.mark(temp, as: .prepared)   // what --force later requires before replacing it
            try OwnedFolder.markLeftover(temp)          // until it is in place: what tells a dead prepare's leftover
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw error
        }
        PreparedFolder.removeOnSignal(temp, also: removeOnInterrupt)
        armed = true
    }

    deinit { close() }

    /// Removes the temporary folder unless it was committed, and disarms the signal handlers.
    func close() {
        disarm()
        if !committed { try? FileManager.default.removeItem(atPath: temp) }
    }

    private func disarm() {
        if !armed { return }
        armed = false
        Signals.setAction(nil)
    }

    /// Into place: the old folder (with --force, checked to be prepare's own) is set aside first and
    /// removed after; if the rename fails, it is put back. The signal handlers go first: from here on a
    /// Ctrl-C must not remove folders that are already in place.
    func commit() throws {
        disarm()
        let old = fileExists(output) ? try SetAsideFolder(output, record: OwnedFolder.isMarked(output,
                                                                                               as: .prepared)) : nil
        do { try moveFolderIntoPlace(temp, output) } catch {
            old?.putBack()
            throw error
        }
        committed = true
        OwnedFolder.clearLeftover(output)
        old?.discard()
    }

    /// Scratch files of the temporary folder: pass 1's kept text, and pass 2's token ids.
    static let textFile = "text.utf16", tokensFile = "tokens.bin"
    static let scratchFiles = [textFile, tokensFile]

    /// What interrupted prepares of `output` left beside it, by processes that are gone: OUT.tmp-PID (an
    /// unfinished folder) is removed; OUT.old-PID (the folder a --force was replacing when it was killed
    /// between its two renames) is put back as OUT when OUT is missing, else removed. Only folders with
    /// prepare's mark are touched. Returns a note for each.
    static func cleanLeftovers(of output: String) -> [String] {
        let (base, listing, sibling) = pathSiblings(output)
        guard !base.isEmpty, let names = OwnedFolder.names(in: listing) else { return [] }
        var notes: [String] = []
        for name in names where leftoverBase(name) == base {
            let path = sibling(name)
            // Only what a gasa prepare that is gone recorded as its own, holding only files prepare writes.
            guard OwnedFolder.isMarked(path, as: .prepared), OwnedFolder.isStaleLeftover(path),
                  foreignEntry(in: path, scratch: true) == nil else { continue }
            let setAside = leftoverBase(name, marks: [".old-"]) != nil
            if setAside && !fileExists(output) && !isSymbolicLink(output) && isPreparedFolder(path) {
                if (try? moveFolderIntoPlace(path, output)) != nil {
                    OwnedFolder.clearLeftover(output)
                    notes.append("put back \(output) from \(path), left by a --force that was interrupted")
                }
            } else if (try? FileManager.default.removeItem(atPath: path)) != nil {
                notes.append("removed \(path), left by an interrupted gasa prepare"
                             + (setAside ? " (the folder it replaced)" : ""))
            }
        }
        return notes
    }

    /// On SIGINT or SIGTERM: remove `folder` (and `others`) and end the process (status 130 or 143).
    static func removeOnSignal(_ folder: String, also others: [String] = []) {
        Signals.setAction { s in
            // Renamed first, so the passes still running cannot create files in it while it goes
            // (their paths name the old one); if the removal is cut short, the name still reads as
            // a leftover of a dead process, which the next prepare removes.
            let doomed = folder + "0"
            let target = rename(folder, doomed) == 0 ? doomed : folder
            try? FileManager.default.removeItem(atPath: target)
            for p in others { try? FileManager.default.removeItem(atPath: p) }
            fputs("\ninterrupted: removed \(([folder] + others).joined(separator: ", "))\n", stderr)
            _exit(128 + s)
        }
    }

    /// What --force may replace: an empty folder, a prepared folder, or a folder of prepared folders (as
    /// several granularities write), holding nothing gasa prepare does not write; never one that holds an
    /// input or the working directory. Anything else is refused: --force is not a way to delete a user's files.
    static func checkReplaceable(_ output: String, inputs: [String]) throws {
        let entries = OwnedFolder.names(in: output) ?? []
        // A folder of prepared folders: each entry one of them, or one left by an interrupted prepare
        // (NAME.tmp-PID or NAME.old-PID, marked, holding only files prepare writes there).
        let isParent = !entries.isEmpty && entries.allSatisfy { e in
            let sub = output + "/" + e
            return isPreparedFolder(sub) || (leftoverBase(e) != nil && OwnedFolder.isMarked(sub, as: .prepared)
                && foreignEntry(in: sub, scratch: true) == nil)
        }
        if let problem = OwnedFolder.replaceProblem(output, as: .prepared,
                                                    isOwned: isParent || isPreparedFolder(output),
                                                    foreign: { foreignEntry(in: output, scratch: false) },
                                                    keeping: inputs.map { ($0, "the input \($0)") }) {
            throw CorpusError.badInput(problem)
        }
    }

    /// Names gasa prepare writes in a prepared folder: manifest, vocabulary, report, shards
    /// (<split>-NNNNN.bin), and any of them being written atomically (NAME.tmp-PID).
    static func isPreparedEntry(_ name: String) -> Bool {
        if let base = leftoverBase(name, marks: [".tmp-"]) { return isPreparedEntry(base) }
        if [Manifest.fileName, Vocabulary.fileName, PrepareReport.fileName, OwnedFolder.markFile,
            OwnedFolder.leftoverFile]
            .contains(name) { return true }
        guard name.hasSuffix(".bin"), let dash = name.lastIndex(of: "-") else { return false }
        let split = name[..<dash], number = name[name.index(after: dash)..<name.index(name.endIndex, offsetBy: -4)]
        return SplitName(rawValue: String(split)) != nil && !number.isEmpty
            && number.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// A real folder (not a link) with gasa prepare's mark, holding a manifest and nothing but files gasa
    /// prepare writes (a folder or link named like a shard is foreign too).
    static func isPreparedFolder(_ path: String) -> Bool {
        OwnedFolder.isMarked(path, as: .prepared) && OwnedFolder.entryKind(path + "/" + Manifest.fileName) == .file
            && foreignEntry(in: path, scratch: false) == nil
    }

    /// The first entry of a prepared folder (or, with `scratch`, of prepare's temporary folder) that is not
    /// a file gasa prepare writes there; nil when there is none.
    static func foreignEntry(in path: String, scratch: Bool) -> String? {
        OwnedFolder.firstForeign(in: path) { rel, kind in
            kind == .file && !rel.contains("/") && (isPreparedEntry(rel) || (scratch && scratchFiles.contains(rel)))
        }
    }
}

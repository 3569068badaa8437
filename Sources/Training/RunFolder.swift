// The run folder of gasa train: what it writes there (so that --force can tell a run from a user's
// folder), what --force may replace, and the recovery of a --force that was killed after it set the old
// run aside and before the new one had its first checkpoint. The moves themselves are Storage's
// SetAsideFolder and moveFolderIntoPlace, shared with prepare and the checkpoint swap.
import Foundation
import Storage

enum RunFolder {
    /// Names gasa train writes in a run folder (checkpoint folders with their .new/.old twins of an
    /// interrupted save, and files being written atomically, NAME.tmp-PID).
    static func isRunEntry(_ name: String) -> Bool {
        if let base = leftoverBase(name, marks: [".tmp-"]) { return isRunEntry(base) }
        let checkpoints = [Checkpoint.latest, Checkpoint.best]
        return checkpoints.contains(name) || checkpoints.contains { name == $0 + ".new" || name == $0 + ".old" }
            || [MetricsLog.fileName, LossPlot.fileName, Checkpoint.vocabFile, OwnedFolder.markFile,
                OwnedFolder.leftoverFile]
                .contains(name)
    }

    /// Names gasa train writes inside a checkpoint folder (and files being written atomically).
    static func isCheckpointEntry(_ name: String) -> Bool {
        if let base = leftoverBase(name, marks: [".tmp-"]) { return isCheckpointEntry(base) }
        return [CheckpointMeta.fileName, TrainingState.fileName, Checkpoint.weightsFile, TrainingState.optimizerFile,
                TrainingState.recurrentFile, Checkpoint.vocabFile].contains(name)
    }

    /// The first entry of a run folder, at any depth, that gasa train does not write there or not of
    /// that kind (checkpoint folders hold only checkpoint files; everything else is a file); nil if none.
    static func foreignEntry(in path: String) -> String? {
        OwnedFolder.firstForeign(in: path) { rel, kind in
            let parts = rel.split(separator: "/").map(String.init)
            let checkpoints = [Checkpoint.latest, Checkpoint.best].flatMap { [$0, $0 + ".new", $0 + ".old"] }
            switch parts.count {
            case 1: return checkpoints.contains(parts[0]) ? kind == .directory : kind == .file && isRunEntry(parts[0])
            case 2: return checkpoints.contains(parts[0]) && kind == .file && isCheckpointEntry(parts[1])
            default: return false
            }
        }
    }

    /// A folder with gasa train's mark, holding nothing gasa train does not write.
    static func isRunFolder(_ path: String) -> Bool {
        OwnedFolder.isMarked(path, as: .run) && foreignEntry(in: path) == nil
    }

    /// What --force may replace: an empty folder or a run folder holding only what gasa train writes,
    /// never one holding `keeping` (the prepared folder, even through a link) or the working directory.
    static func checkReplaceable(_ path: String, keeping: [String]) throws {
        if let problem = OwnedFolder.replaceProblem(path, as: .run, isOwned: isRunFolder(path),
                                                    foreign: { foreignEntry(in: path) },
                                                    keeping: keeping.map { ($0, $0) }) {
            throw TrainingError.badRun(problem)
        }
    }

    /// A train --force killed after it moved the old run aside (RUN.old-PID) and before the new run's
    /// first checkpoint leaves RUN without a checkpoint: the old run is put back as RUN (the new folder,
    /// holding nothing but what gasa writes and no checkpoint, is removed first). Returns what was done,
    /// for the user; nil when there is nothing to recover. Only folders marked as runs are touched.
    static func recoverInterruptedForce(run: String) throws -> String? {
        let (base, listing, sibling) = pathSiblings(run)
        let path = sibling(base)
        guard !base.isEmpty, (try? Checkpoint.resolve(path, prefer: [Checkpoint.latest])) == nil,
              let names = OwnedFolder.names(in: listing) else { return nil }
        let candidates = names.filter { leftoverBase($0, marks: [".old-"]) == base }.map(sibling)
            .filter { OwnedFolder.isMarked($0, as: .run) && OwnedFolder.isStaleLeftover($0)
                && (try? Checkpoint.resolve($0, prefer: [Checkpoint.latest])) != nil }
        guard let old = candidates.last else { return nil }
        if fileExists(path) || isSymbolicLink(path) {
            guard isRunFolder(path) || (OwnedFolder.names(in: path)?.isEmpty ?? false) else {
                throw TrainingError.badRun("\(old) holds the run an interrupted --force was replacing, but \(path) "
                                           + "holds other files; move one of them away and resume again")
            }
            try FileManager.default.removeItem(atPath: path)
        }
        try moveFolderIntoPlace(old, path)
        OwnedFolder.clearLeftover(path)
        return "recovered \(path) from \(old), the run an interrupted train --force was replacing (the new run had no "
            + "checkpoint yet)"
    }
}

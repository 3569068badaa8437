// Training over several processes (mpirun, ProcessGroup): data parallelism across processes. Each rank
// trains a contiguous block of every minibatch's rows (BatchSlice), so the state each row carries stays
// on its rank, with its own threads inside. After the backward pass one all-reduce sums the flat gradient
// buffer; clipping and the optimizer step then run on every rank from the same sum, so the weights stay
// the same everywhere. A second, tiny exchange per step sums the loss and agrees the stop decisions
// (Ctrl-C or SIGTERM on any rank, --max-minutes on any rank's clock), so that all ranks stop after the
// same step; patience and the divergence guard read reduced values and agree by themselves. Validation
// splits its rows the same way and sums the losses (SplitEvaluator). Rank 0 alone writes the run folder;
// the carried state is gathered to it at each checkpoint. Dropout masks come from each row's own stream
// (MaskStreams), so the computation does not depend on how the rows are divided, beyond the order of
// floating-point sums, and a run resumes with another process or thread count.
import Corpus
import Foundation
import Model
import Storage

extension Trainer {
    /// Rows `slice` of the whole batch's state `full` into `block` (a state of slice.rows rows).
    static func copyRows(_ slice: BatchSlice, from full: RecurrentState, to block: RecurrentState) {
        let H = full.hiddenSize
        for l in 0..<full.layers {
            block.h(l).update(from: full.h(l) + slice.firstRow * H, count: slice.rows * H)
            block.c(l).update(from: full.c(l) + slice.firstRow * H, count: slice.rows * H)
        }
    }

    /// Every rank's block of the carried state into `recurrent` on every rank (for a checkpoint): each
    /// fills its rows, the others zero, and one sum puts them together exactly (x + 0 = x).
    func gatherState(_ g: ProcessGroup) {
        recurrent.reset()
        let H = recurrent.hiddenSize
        for l in 0..<recurrent.layers {
            (recurrent.h(l) + slice.firstRow * H).update(from: blockState.h(l), count: slice.rows * H)
            (recurrent.c(l) + slice.firstRow * H).update(from: blockState.c(l), count: slice.rows * H)
        }
        g.sum(recurrent.values)
    }

    /// After a step's backward pass: the gradients summed over the ranks, then the step's loss summed and
    /// the stop requests agreed in one small exchange. Returns the whole batch's loss in nats.
    func exchangeStep(_ g: ProcessGroup, loss: Double) -> Double {
        g.sumGradients(model.gradients)
        var v = [loss, StopSignal.requested ? 1 : 0, timeIsUp() ? 1 : 0]
        g.sum(&v)
        agreedStop = (signal: v[1] > 0, minutes: v[2] > 0)
        return v[0]
    }

    /// A stop request, agreed by every rank under mpirun (checked between evaluation minibatches).
    func stopRequestedNow() -> Bool {
        guard let g = group else { return StopSignal.requested }
        if g.any(StopSignal.requested) { agreedStop.signal = true }
        return agreedStop.signal
    }

    /// Before the first collective that depends on them: every rank runs the same binary on the same
    /// prepared folder with the same settings, from the same weights and training state. A rank that
    /// differs says how and the job ends (a silent difference would train a wrong model or hang).
    func checkSameStart(_ g: ProcessGroup) throws {
        let mine = try startFingerprint()
        var theirs = mine
        theirs.withUnsafeMutableBytes { g.broadcast($0, from: 0) }
        let differs = Trainer.fingerprintNames.indices.filter { mine[$0] != theirs[$0] }
            .map { Trainer.fingerprintNames[$0] }
        // The others wait in their next collective until this ends the job.
        guard differs.isEmpty else {
            g.abort("started with a different \(differs.joined(separator: ", ")) from rank 0's; every process "
                    + "must run the same gasa binary on the same prepared folder (\(prepared), the same path on "
                    + "every machine) with the same options" + (options.resume ? ", resuming the same run" : ""))
        }
    }

    static let fingerprintNames = ["gasa binary", "manifest.json", "vocabulary", "train settings",
                                   "initial weights", "optimizer state", "carried state", "random state",
                                   "iteration", "data position"]

    private func startFingerprint() throws -> [UInt32] {
        func crc(_ b: UnsafeMutableBufferPointer<Float>) -> UInt32 { CRC32.checksum(UnsafeRawBufferPointer(b)) }
        let binary = try readFileBytes("/proc/self/exe", limit: 4 << 30)
        let manifestBytes = try readFileBytes(prepared + "/" + Manifest.fileName, limit: 256 << 20)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let settings = try encoder.encode(config.settings)
        let rng = try encoder.encode(state.rng)
        var moments: UInt32 = 0
        for t in optimizer.tensors { moments ^= crc(t.data) &* 31 &+ UInt32(t.data.count) }
        return [CRC32.checksum(binary), CRC32.checksum(manifestBytes), CRC32.checksum(vocabBytes),
                CRC32.checksum([UInt8](settings)), crc(model.parameters), moments, crc(recurrent.values),
                CRC32.checksum([UInt8](rng)), UInt32(truncatingIfNeeded: state.iteration),
                UInt32(truncatingIfNeeded: state.position)]
    }
}

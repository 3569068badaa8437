// The processes of one training run started by Open MPI's mpirun: this process's rank, their count, and
// the collectives data-parallel training needs (sums of the gradient buffer and of a few doubles, a
// broadcast, and ending the whole job). MPIShim loads Open MPI only here, only under mpirun, so a plain
// `gasa train` neither needs nor touches it. How training uses them is Trainer+Processes.swift.
import Common
import Foundation
import MPIShim

public final class ProcessGroup {
    public let rank: Int
    public let size: Int
    /// Processes of this job on this machine (Open MPI's local size), for the default thread count.
    public let localSize: Int
    /// Where this rank runs, for messages.
    public let host: String
    /// Time in the gradient all-reduces, and their count.
    public private(set) var reduceSeconds = 0.0
    public private(set) var reduceCount = 0

    private init(rank: Int, size: Int, localSize: Int) {
        self.rank = rank
        self.size = size
        self.localSize = Swift.max(1, localSize)
        host = ProcessInfo.processInfo.hostName
    }

    /// The environment variable Open MPI's launcher sets in every process it starts.
    static let launcherVariable = "OMPI_COMM_WORLD_SIZE"

    /// Whether this process was started by mpirun.
    public static var launched: Bool { ProcessInfo.processInfo.environment[launcherVariable] != nil }

    /// Joins the job when started by mpirun (loading Open MPI); nil when gasa runs on its own. Another
    /// MPI's launcher is an error rather than N independent runs writing one folder.
    public static func joinIfLaunched() throws -> ProcessGroup? {
        let env = ProcessInfo.processInfo.environment
        guard env[launcherVariable] != nil else {
            if let n = env["PMI_SIZE"] ?? env["PMIX_SIZE"], (Int(n) ?? 1) > 1 {
                throw TrainingError.badOptions("gasa was started by an MPI launcher other than Open MPI's mpirun "
                                               + "(PMI_SIZE=\(n)); gasa train runs over Open MPI only: use its "
                                               + "mpirun (Debian: apt-get install openmpi-bin)")
            }
            return nil
        }
        var message = [CChar](repeating: 0, count: 512)
        guard gasa_mpi_start(&message, message.count) == 0 else {
            throw TrainingError.badOptions("started by mpirun, but " + String(cString: message))
        }
        return ProcessGroup(rank: Int(gasa_mpi_rank()), size: Int(gasa_mpi_size()),
                            localSize: Int(env["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1)
    }

    /// The gradient buffer summed over every rank, in place: one all-reduce of the whole flat buffer.
    public func sumGradients(_ g: UnsafeMutableBufferPointer<Float>) {
        let t0 = monotonicSeconds()
        check(gasa_mpi_sum_floats(g.baseAddress!, Int64(g.count)), "the gradient all-reduce")
        reduceSeconds += monotonicSeconds() - t0
        reduceCount += 1
    }

    /// Any float buffer summed over every rank, in place (not timed as a gradient reduce).
    public func sum(_ values: UnsafeMutableBufferPointer<Float>) {
        check(gasa_mpi_sum_floats(values.baseAddress!, Int64(values.count)), "an all-reduce")
    }

    public func sum(_ values: inout [Double]) {
        let n = Int32(values.count)
        check(values.withUnsafeMutableBufferPointer { gasa_mpi_sum_doubles($0.baseAddress!, n) }, "an all-reduce")
    }

    public func max(_ values: inout [Double]) {
        let n = Int32(values.count)
        check(values.withUnsafeMutableBufferPointer { gasa_mpi_max_doubles($0.baseAddress!, n) }, "an all-reduce")
    }

    /// Whether `flag` is true on any rank (every rank gets the same answer).
    public func any(_ flag: Bool) -> Bool {
        var v = [flag ? 1.0 : 0.0]
        max(&v)
        return v[0] > 0
    }

    /// Rank `root`'s bytes in every rank's buffer (all ranks pass buffers of the same size).
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int = 0) {
        guard bytes.count > 0 else { return }
        check(gasa_mpi_broadcast(bytes.baseAddress!, Int64(bytes.count), Int32(root)), "a broadcast")
    }

    /// Prints the message as this rank's and ends every process of the job with `code` (MPI_Abort), so
    /// that none is left waiting in a collective for a rank that has stopped.
    public func abort(_ message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data((label + ": " + message + "\n").utf8))
        gasa_mpi_abort(code)
        exit(code)   // not reached: MPI_Abort ends the process
    }

    /// "rank R of N on HOST".
    public var label: String { "gasa rank \(rank) of \(size) on \(host)" }

    /// Leaves the job (MPI_Finalize), after the last collective.
    public func finish() { _ = gasa_mpi_finish() }

    private func check(_ rc: Int32, _ what: String) {
        if rc != 0 { abort("\(what) failed (MPI error \(rc)); the last checkpoint is kept") }
    }
}

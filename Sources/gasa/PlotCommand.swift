// gasa plot: RUN/metrics.jsonl -> RUN/loss.svg (train and val loss against iterations and minutes).
import ArgumentParser
import Training

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw a run's loss curves into RUN/loss.svg.",
        discussion: """
        gasa train does this at the end of every run; use it to look at a run while it is still going.

        Example:
          gasa plot run && xdg-open run/loss.svg
        """)

    @Argument(help: "A run folder written by gasa train.")
    var runDirectory: String

    func run() throws {
        emit(try LossPlot.write(runDirectory: runDirectory))
    }
}

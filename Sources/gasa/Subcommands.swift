// The list of subcommands, in the order `gasa --help` shows them.
import ArgumentParser

extension Gasa {
    static let allSubcommands: [ParsableCommand.Type] = [
        PrepareCommand.self,
        TrainCommand.self,
        SampleCommand.self,
        CompareCommand.self,
        ServeCommand.self,
        PlotCommand.self,
        InspectCommand.self,
        NormalizeCommand.self,
        TokenizeCommand.self,
        DetokenizeCommand.self,
        BenchCommand.self,
    ]
}

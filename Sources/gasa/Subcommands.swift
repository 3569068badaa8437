// The list of subcommands, in the order `gasa --help` shows them.
import ArgumentParser

extension Gasa {
    static let allSubcommands: [ParsableCommand.Type] = [
        PrepareCommand.self,
        NormalizeCommand.self,
        TokenizeCommand.self,
        DetokenizeCommand.self,
        InspectCommand.self,
        TrainCommand.self,
        PlotCommand.self,
    ]
}

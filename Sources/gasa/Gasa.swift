// gasa: the command-line face of the library. The root command is a table of contents;
// each subcommand lives in its own file and only parses, calls the library and prints.
import ArgumentParser

@main
struct Gasa: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gasa",
        abstract: "Unicode-first char-rnn: prepare a corpus, train an LSTM language model, sample new text.",
        discussion: """
        A typical run on Korean lyrics:
          gasa prepare lyrics.txt --out prep --granularity char
          gasa train prep --out run
          gasa sample run --prime "사랑은 " --length 200
        """,
        subcommands: Gasa.allSubcommands)
}

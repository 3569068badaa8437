// gasa: the command-line face of the library. The root command is a table of contents;
// each subcommand lives in its own file and only parses, calls the library and prints.
import ArgumentParser
import Common
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

@main
struct Gasa: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gasa",
        abstract: "Unicode-first char-rnn: prepare a corpus, train an LSTM language model, sample new text.",
        discussion: """
        From Korean lyrics to new lyrics (char or jamo? compare tells):
          gasa prepare lyrics.txt --out prep --granularity char,jamo
          gasa train prep/char --out run-char --max-minutes 30
          gasa train prep/jamo --out run-jamo --max-minutes 30
          gasa compare run-char run-jamo
          gasa serve run-char run-jamo          (a web page that writes lyrics live)
          gasa sample run-char --prime "사랑은 " --length 200
          gasa train --resume run-char --max-minutes 60
          gasa plot run-char
        Looking at a stage by hand:
          gasa inspect prep/char
          echo "사랑은 ㅠㅠ" | gasa normalize --normalization nfkc
          echo "사랑은 ㅠㅠ" | gasa tokenize --granularity jamo
          echo "사랑" | gasa tokenize --ids --vocab prep/char/vocab.json
          gasa detokenize --vocab prep/char/vocab.json < ids.txt
          gasa bench --layers 3 --rnn-size 300 --dropout 0.4
        Each subcommand's --help has more examples.
        """,
        version: "0.1.0",
        subcommands: Gasa.allSubcommands)

    /// SIGINT and SIGTERM go to Common's signal thread before any other thread exists (Signals.swift says
    /// why). SIGPIPE is ignored so that a reader going away is an EPIPE that Output handles (a quiet exit
    /// 141 for results; progress on stderr simply stops), not a signal that kills a training mid-step.
    static func main() {
        Signals.start()
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot()
            if let serving = command as? any AsyncParsableCommand {
                try waitFor(serving)
            } else {
                try command.run()
            }
        } catch {
            Signals.waitForAction()   // an interrupted prepare's error: its action's exit status, not this
            exit(withError: error)
        }
    }

    /// Runs an async command (serve) on Swift's task threads while the main thread waits here, the two
    /// signals still blocked. An async main would park the main thread in Dispatch's sigsuspend with every
    /// signal unblocked, and a Ctrl-C landing there would end the process before the signal thread saw it.
    private static func waitFor(_ command: any AsyncParsableCommand) throws {
        final class Outcome: @unchecked Sendable { var error: (any Error)? }   // written before `done`, read after
        nonisolated(unsafe) var command = command
        let outcome = Outcome(), done = DispatchSemaphore(value: 0)
        Task {
            do { try await command.run() } catch { outcome.error = error }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw error }
    }
}

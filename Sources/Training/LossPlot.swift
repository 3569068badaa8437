// RUN/loss.svg from RUN/metrics.jsonl: two panels, loss against iterations and against minutes, with
// the training loss as a line and the validation loss as a line with dots (Common's LineChart).
import Common
import Foundation
import Storage

public enum LossPlot {
    public static let fileName = "loss.svg"

    /// Reads RUN/metrics.jsonl and writes RUN/loss.svg; returns the path written.
    @discardableResult
    public static func write(runDirectory: String) throws -> String {
        let log = runDirectory + "/" + MetricsLog.fileName
        guard fileExists(log) else {
            throw TrainingError.badRun("\(runDirectory) has no \(MetricsLog.fileName); is it a folder written by gasa "
                                       + "train?")
        }
        let records = try MetricsLog.read(path: log)
        let out = runDirectory + "/" + fileName
        try AtomicFile.write(Array(svg(records, title: (runDirectory as NSString).lastPathComponent).utf8), to: out)
        return out
    }

    /// The SVG text for a list of records.
    public static func svg(_ records: [MetricsRecord], title: String) -> String {
        let train = records.filter { $0.type == .train && ($0.trainLoss?.isFinite ?? false) }
        let val = records.filter { $0.type == .eval && $0.split == .val && ($0.natsPerToken?.isFinite ?? false) }
        let panelW = 460.0, panelH = 300.0, margin = (l: 62.0, r: 16.0, t: 40.0, b: 46.0)
        let width = 2 * (panelW + margin.l + margin.r), height = panelH + margin.t + margin.b + 30
        // One loss scale for both panels.
        let yRange = LineChart.range(train.compactMap(\.trainLoss) + val.compactMap(\.natsPerToken), floorAtZero: true)
        var body = ""
        for (i, axis) in ["iteration", "minutes"].enumerated() {
            func x(_ r: MetricsRecord) -> Double { i == 0 ? Double(r.iter) : r.minutes }
            let chart = LineChart(xLabel: axis, series: [
                .init(label: "train", color: LineChart.palette[0], points: train.map { (x($0), $0.trainLoss!) }),
                .init(label: "val", color: LineChart.palette[1], points: val.map { (x($0), $0.natsPerToken!) },
                      dots: true),
            ])
            body += chart.panel(x0: Double(i) * (panelW + margin.l + margin.r) + margin.l, y0: margin.t,
                                width: panelW, height: panelH, yRange: yRange)
        }
        if let last = val.last, let b = last.bitsPerChar {
            body += "<text x=\"\(Int(margin.l))\" y=\"\(Int(height - 8))\">last val: "
                + "\(String(format: "%.4f", last.natsPerToken!)) "
                + "nats/token, \(String(format: "%.4f", b)) bits/char at iteration \(last.iter)</text>\n"
        }
        return LineChart.document(width: width, height: height,
                                  title: "\(title): loss in nats per token (train: line, val: dots)", body: body)
    }
}

// The shard layout of gasa prepare: each split's ids cut into B parallel streams of L targets (train: B
// as asked; val and test: fewer rows when the split is short, so that it still forms a minibatch), and
// written as minibatches of T steps into shard files of about --shard-mib each, every file's minibatches
// by parallel pieces, checksummed, and committed in the background while the next is written. Where the
// streams start in the token file is the layout's (`Rows`): one contiguous run of a split's own ids
// here, or a share of each row of the whole stream for --split-by stream (StreamSplit.swift).
import Common
import Dispatch
import Foundation
import Storage

enum ShardLayout {
    /// B streams of L targets, stream b's inputs starting at token `start(b)` of the token file (its
    /// targets one token later).
    struct Rows {
        var batch: Int
        var length: Int
        var start: (Int) -> Int
    }

    /// A split (`s.tokens` ids from `firstToken` of the token file) as B contiguous streams of L targets,
    /// with what its SplitInfo says of it; nil rows when it has fewer than 2 tokens.
    static func contiguous(_ name: SplitName, split s: SplitTokens, firstToken: Int, options: PrepareOptions)
        -> (rows: Rows?, info: SplitInfo) {
        let T = options.seqLength
        let avail = s.tokens - 1
        var info = SplitInfo(name: name, tokens: s.tokens, characters: s.characters, batchSize: 0, streamLength: 0,
                             minibatches: 0, servedTargets: 0, targetCharacters: 0, droppedTokens: max(0, s.tokens),
                             shards: [])
        guard avail >= 1 else { return (nil, info) }
        let B = name == .train ? min(options.batchSize, avail)
                               : (avail >= options.batchSize * T ? options.batchSize : max(1, min(options.batchSize, avail / T)))
        let L = avail / B
        let dropped = avail - B * L
        info.droppedTokens = dropped
        info.targetCharacters = s.characters - s.firstChars - s.lastChars(dropped)
        return (Rows(batch: B, length: L, start: { firstToken + $0 * L }), info)
    }

    /// Lays a split out as `rows` and writes its minibatches into shard files, each file's minibatches in
    /// parallel pieces; `info` (the split's counts) comes back with the layout and the shards filled in.
    static func write(_ rows: Rows, info: SplitInfo, tokens: PositionalFile, tokenBytes tb: Int, options: PrepareOptions,
                      directory: String, threads: Int, commits: BackgroundWork) throws -> SplitInfo {
        let name = info.name
        let T = options.seqLength
        let B = rows.batch, L = rows.length
        var info = info
        info.batchSize = B
        info.streamLength = L
        info.servedTargets = B * L
        let full = L / T, rest = L % T
        info.minibatches = full + (rest > 0 ? 1 : 0)

        precondition((0..<B).allSatisfy { tokens.count >= (rows.start($0) + L + 1) * tb }, "token file size mismatch")
        let perShard = max(1, options.shardBytes / (B * (T + 1) * tb))
        var groups: [(first: Int, count: Int, steps: Int)] = []
        var k = 0
        while k < full { let c = min(perShard, full - k); groups.append((k, c, T)); k += c }
        if rest > 0 { groups.append((full, 1, rest)) }
        for (gi, g) in groups.enumerated() {
            let file = "\(name.rawValue)-\(String(format: "%05d", gi)).bin"
            let w = try ShardWriter(path: directory + "/" + file, tokenBytes: tb, batch: B, steps: g.steps,
                                    count: g.count, first: g.first)
            // The file's minibatches in `pieces` contiguous ranges, one per thread; each reads a block of
            // every stream (one read per stream), gathers the rows, writes them at their place and
            // checksums them.
            let pieces = min(threads, g.count)
            let rowBytes = (g.steps + 1) * tb
            var crcs = [(crc: UInt32, bytes: Int)](repeating: (0, 0), count: pieces)
            var failure: Error? = nil
            let lock = NSLock()
            DispatchQueue.concurrentPerform(iterations: pieces) { p in
                let from = g.count * p / pieces, to = g.count * (p + 1) / pieces
                let perBlock = max(1, (1 << 20) / w.minibatchBytes)
                let streamBytes = ((perBlock - 1) * T + g.steps + 1) * tb    // one stream's span of a block
                let staged = UnsafeMutableRawPointer.allocate(byteCount: B * streamBytes, alignment: 16)
                let block = UnsafeMutableRawPointer.allocate(byteCount: perBlock * w.minibatchBytes, alignment: 16)
                defer { staged.deallocate(); block.deallocate() }
                var crc: UInt32 = 0, bytes = 0
                do {
                    var m = from
                    while m < to {
                        let n = min(perBlock, to - m)
                        let span = ((n - 1) * T + g.steps + 1) * tb
                        for b in 0..<B {
                            try tokens.read(into: UnsafeMutableRawBufferPointer(start: staged + b * streamBytes,
                                                                                count: span),
                                            at: (rows.start(b) + (g.first + m) * T) * tb)
                        }
                        var o = 0
                        for k in 0..<n {
                            for b in 0..<B {
                                (block + o).copyMemory(from: staged + b * streamBytes + k * T * tb, byteCount: rowBytes)
                                o += rowBytes
                            }
                        }
                        let c = try w.write(UnsafeRawBufferPointer(start: block, count: o), minibatch: m)
                        crc = CRC32.combine(crc, c, lengthOfB: o)
                        bytes += o
                        m += n
                    }
                } catch {
                    lock.lock(); failure = failure ?? error; lock.unlock()
                }
                lock.lock(); crcs[p] = (crc, bytes); lock.unlock()
            }
            if let e = failure { throw e }
            let payloadCRC = crcs.reduce(UInt32(0)) { CRC32.combine($0, $1.crc, lengthOfB: $1.bytes) }
            let (h, size) = try w.finish(payloadCRC: payloadCRC)
            commits.run { try w.commit() }
            info.shards.append(ShardInfo(file: file, first: g.first, minibatches: g.count, steps: g.steps, bytes: size,
                                         crc32: hex32(h.payloadCRC)))
        }
        return info
    }
}

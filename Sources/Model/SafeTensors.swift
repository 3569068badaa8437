// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of
// JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {string: string}},
// then the raw little-endian tensor bytes. gasa writes and reads F32 only. The reader trusts nothing:
// header length, JSON shape, dtypes, shapes against byte ranges, bounds and overlaps are all checked.
import Foundation
import Storage

public enum SafeTensors {
    public struct Tensor: Sendable {
        public let name: String
        public let shape: [Int]
        public let data: [Float]
    }

    static let maxHeader = 100 << 20

    /// Writes F32 tensors and string metadata atomically (temp file, fsync, rename), in the given order.
    /// Returns the CRC-32 of the bytes written (for a checksum recorded beside the file).
    @discardableResult
    public static func write(path: String, tensors: [(name: String, shape: [Int], data: UnsafeBufferPointer<Float>)],
                             metadata: [String: String]) throws -> UInt32 {
        var json = "{"
        var entries: [String] = []
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(quote($0)):\(quote(metadata[$0]!))" }
            entries.append("\"__metadata__\":{" + items.joined(separator: ",") + "}")
        }
        var offset = 0
        for t in tensors {
            precondition(t.shape.reduce(1, *) == t.data.count, "tensor \(t.name): shape does not match its data")
            let end = offset + t.data.count * 4
            entries.append("\(quote(t.name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        json += entries.joined(separator: ",") + "}"
        var header = Array(json.utf8)
        while (header.count + 8) % 8 != 0 { header.append(0x20) }   // pad with spaces to 8-byte alignment
        var prefix = [UInt8](repeating: 0, count: 8)
        let n = UInt64(header.count)
        for k in 0..<8 { prefix[k] = UInt8((n >> (8 * UInt64(k))) & 0xFF) }
        let file = try AtomicFile(path: path)
        var crc = CRC32()
        try file.write(prefix)
        try file.write(header)
        prefix.withUnsafeBytes { crc.update($0) }
        header.withUnsafeBytes { crc.update($0) }
        for t in tensors {
            if t.data.isEmpty { continue }
            // Float32 in memory is little-endian on every platform gasa builds for (x86-64, arm64).
            try file.write(UnsafeRawBufferPointer(t.data))
            crc.update(UnsafeRawBufferPointer(t.data))
        }
        try file.commit()
        return crc.value
    }

    /// Reads and validates a safetensors file of F32 tensors, in file order.
    public static func read(path: String) throws -> (tensors: [Tensor], metadata: [String: String]) {
        let parsed = try parse(path: path)
        let tensors = parsed.entries.map { e in
            var data = [Float](repeating: 0, count: e.count)
            data.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: parsed.bytes(e), byteCount: e.end - e.begin) }
            return Tensor(name: e.name, shape: e.shape, data: data)
        }
        return (tensors, parsed.metadata)
    }

    /// A validated file, memory-mapped: tensors are read in place (no copy until the caller makes one).
    struct Parsed {
        struct Entry { let name: String; let shape: [Int]; let begin: Int; let end: Int; var count: Int { (end - begin) / 4 } }
        let file: MappedFile
        let dataStart: Int
        let entries: [Entry]
        let metadata: [String: String]
        /// The tensor's bytes (not necessarily Float-aligned: other writers need not pad the header).
        func bytes(_ e: Entry) -> UnsafeRawPointer { file.bytes.baseAddress! + dataStart + e.begin }
    }

    static func parse(path: String) throws -> Parsed {
        func bad(_ problem: String) -> ModelError {
            .badCheckpoint(path: path,
                           problem: problem + " (not a valid safetensors file; was it truncated or overwritten?)")
        }
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch let e as FileError { throw ModelError.badCheckpoint(path: path, problem: e.message) }
        let bytes = file.bytes
        guard bytes.count >= 8 else { throw bad("file is \(bytes.count) bytes, shorter than the 8-byte header length") }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(bytes[k]) << (8 * UInt64(k)) }
        guard n >= 2, n <= UInt64(maxHeader), Int(n) <= bytes.count - 8 else {
            throw bad("header length \(n) does not fit in the file's \(bytes.count) bytes")
        }
        let headerBytes = Data(bytes: bytes.baseAddress! + 8, count: Int(n))
        guard let object = try? JSONSerialization.jsonObject(with: headerBytes),
            let dict = object as? [String: Any] else {
            throw bad("header is not a JSON object")
        }
        let dataStart = 8 + Int(n)
        let dataSize = bytes.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [Parsed.Entry] = []
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw bad("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw bad("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw bad("entry '\(name)' is not an object") }
            guard let dtype = info["dtype"] as? String else { throw bad("tensor '\(name)' has no dtype") }
            guard dtype == "F32" else { throw bad("tensor '\(name)' has dtype \(dtype); gasa reads F32 only") }
            guard let shapeAny = info["shape"] as? [Any], shapeAny.count <= 8 else {
                throw bad("tensor '\(name)' has no valid shape")
            }
            var shape: [Int] = []
            var count = 1
            for d in shapeAny {
                guard let num = d as? NSNumber, let dim = Int(exactly: num.doubleValue), dim >= 0, dim <= 1 << 32 else {
                    throw bad("tensor '\(name)' has an invalid dimension")
                }
                let (m, overflow) = count.multipliedReportingOverflow(by: dim)
                guard !overflow, m <= 1 << 34 else { throw bad("tensor '\(name)' is too large") }
                count = m
                shape.append(dim)
            }
            guard let offs = info["data_offsets"] as? [Any], offs.count == 2,
                  let b = (offs[0] as? NSNumber).flatMap({ Int(exactly: $0.doubleValue) }),
                  let e = (offs[1] as? NSNumber).flatMap({ Int(exactly: $0.doubleValue) }) else {
                throw bad("tensor '\(name)' has no valid data_offsets")
            }
            guard b >= 0, b <= e, e <= dataSize else {
                throw bad("tensor '\(name)' data_offsets [\(b), \(e)] fall outside the \(dataSize) data bytes")
            }
            guard e - b == count * 4 else {
                throw bad("tensor '\(name)' has shape \(shape) (\(count * 4) bytes) but \(e - b) bytes of data")
            }
            entries.append(Parsed.Entry(name: name, shape: shape, begin: b, end: e))
        }
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var expected = 0
        for e in entries {
            guard e.begin == expected else {
                throw bad(e.begin < expected ? "tensor '\(e.name)' overlaps the one before it" : "gap before tensor "
                          + "'\(e.name)'")
            }
            expected = e.end
        }
        guard expected == dataSize else { throw bad("\(dataSize - expected) bytes after the last tensor") }
        return Parsed(file: file, dataStart: dataStart, entries: entries, metadata: metadata)
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

extension LanguageModel {
    /// Saves the parameters under their PyTorch names and shapes (see ModelConfig).
    @discardableResult
    public func saveWeights(path: String, metadata: [String: String] = [:]) throws -> UInt32 {
        let base = UnsafePointer(parameters.baseAddress!)
        let tensors = layout.map { v in
            (name: v.name, shape: v.shape, data: UnsafeBufferPointer(start: base + v.offset, count: v.count))
        }
        return try SafeTensors.write(path: path, tensors: tensors, metadata: metadata)
    }

    /// Loads parameters saved by saveWeights (or by PyTorch from the same architecture): every name of the
    /// layout must be present with its exact shape, and nothing else.
    public func loadWeights(path: String) throws {
        let parsed = try SafeTensors.parse(path: path)
        var byName: [String: SafeTensors.Parsed.Entry] = [:]
        for e in parsed.entries { byName[e.name] = e }
        for v in layout {
            guard let t = byName[v.name] else {
                throw ModelError.badCheckpoint(path: path,
                    problem: "tensor '\(v.name)' is missing; the file does not match this model configuration")
            }
            guard t.shape == v.shape else {
                throw ModelError.badCheckpoint(path: path,
                    problem: "tensor '\(v.name)' has shape \(t.shape), the configuration says \(v.shape)")
            }
            byName[v.name] = nil
        }
        if let extra = byName.keys.sorted().first {
            throw ModelError.badCheckpoint(path: path,
                problem: "unexpected tensor '\(extra)'; the file does not match this model configuration")
        }
        for e in parsed.entries {
            let v = view(e.name)!
            UnsafeMutableRawPointer(parameters.baseAddress! + v.offset).copyMemory(from: parsed.bytes(e),
                                                                                   byteCount: 4 * v.count)
            // The file's pages are not needed twice: let them go, so a load adds one tensor to memory, not the model.
            parsed.file.advise(willNeed: false, offset: parsed.dataStart + e.begin, length: e.end - e.begin)
        }
        for k in 0..<parameters.count where !parameters[k].isFinite {
            throw ModelError.badCheckpoint(path: path, problem: "parameters contain NaN or infinity")
        }
        // Tied weights are one matrix saved twice (so PyTorch loads the file as it is): two that differ were
        // edited or come from an untied model, and training would silently keep them apart.
        if config.regularization.tieWeights {
            let n = config.vocabSize * config.hiddenSize
            let p = parameters.baseAddress!
            for k in 0..<n where p[embedOffset + k].bitPattern != p[headWOffset + k].bitPattern {
                throw ModelError.badCheckpoint(path: path, problem: "the model ties head.weight to embed.weight, "
                    + "but the two tensors differ (first at element \(k)); the file was edited or comes from a "
                    + "model trained without --tie-weights")
            }
        }
    }
}

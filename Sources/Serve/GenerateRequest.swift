// The body of POST /api/generate: the options of `gasa sample` under the same names (with _ for -),
// decoded strictly (an unknown field, a wrong type or a value out of range is a 400 naming it) and
// checked against the server's limits before any work starts.
import Compute
import Foundation
import Sampling

public struct GenerateRequest: Decodable, Sendable {
    public var model: Int
    public var prime: String = ""
    public var length: Int = 200
    public var temperature: Float = 1.0
    public var topK: Int = 0
    public var topP: Float = 1.0
    public var seed: UInt64?
    public var unknown: UnknownPolicy = .error
    public var stopAt: String?

    static let fields = ["model", "prime", "length", "temperature", "top_k", "top_p", "seed", "unknown", "stop_at"]

    enum CodingKeys: String, CodingKey {
        case model, prime, length, temperature, topK, topP, seed, unknown, stopAt
    }

    public init(model: Int) { self.model = model }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(Int.self, forKey: .model)
        prime = try c.decodeIfPresent(String.self, forKey: .prime) ?? ""
        length = try c.decodeIfPresent(Int.self, forKey: .length) ?? 200
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? 1.0
        topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? 0
        topP = try c.decodeIfPresent(Float.self, forKey: .topP) ?? 1.0
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        unknown = try c.decodeIfPresent(UnknownPolicy.self, forKey: .unknown) ?? .error
        stopAt = try c.decodeIfPresent(String.self, forKey: .stopAt)
    }

    /// Decodes and checks a request body; a problem is an APIError (400) that says what to change.
    static func parse(_ bytes: [UInt8], limits: ServeLimits, models: Int) throws -> GenerateRequest {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)),
            let dict = object as? [String: Any] else {
            throw APIError(.badRequest, "the body must be a JSON object, e.g. {\"model\": 0, \"prime\": \"사랑은 \"}")
        }
        if let extra = dict.keys.sorted().first(where: { !fields.contains($0) }) {
            throw APIError(.badRequest, "unknown field \"\(extra)\"; the fields are \(fields.joined(separator: ", "))")
        }
        // A seed out of UInt64's range is reported by the decoder without its field: checked here first.
        struct Seed: Decodable { var seed: UInt64? }
        struct AnySeed: Decodable { var seed: Double? }
        if (try? JSONDecoder().decode(Seed.self, from: Data(bytes))) == nil,
           (try? JSONDecoder().decode(AnySeed.self, from: Data(bytes)))?.seed != nil {
            throw APIError(.badRequest, "field \"seed\" must be a whole number from 0 to 18446744073709551615")
        }
        let r: GenerateRequest
        do {
            let d = JSONDecoder()
            d.keyDecodingStrategy = .convertFromSnakeCase
            r = try d.decode(GenerateRequest.self, from: Data(bytes))
        } catch let DecodingError.keyNotFound(k, _) {
            throw APIError(.badRequest, "missing field \"\(k.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, c), let DecodingError.valueNotFound(_, c) {
            throw APIError(.badRequest, "field \"\(snake(c.codingPath))\" has the wrong type")
        } catch let DecodingError.dataCorrupted(c) {
            throw APIError(.badRequest, "field \"\(snake(c.codingPath))\" has a value that is not allowed"
                           + (c.codingPath.last?.stringValue == "unknown" ? " (error, skip or unk)" : ""))
        }
        guard r.model >= 0 && r.model < models else {
            throw APIError(.notFound,
                           "no model \(r.model); GET /api/models lists the \(models) there are (0...\(models - 1))")
        }
        guard r.length >= 1 && r.length <= limits.maxLength else {
            throw APIError(.badRequest, "length must be within 1...\(limits.maxLength) characters")
        }
        guard r.prime.unicodeScalars.count <= limits.maxPrimeCharacters else {
            throw APIError(.badRequest, "prime is longer than \(limits.maxPrimeCharacters) characters")
        }
        guard (r.stopAt?.unicodeScalars.count ?? 0) <= 100 else {
            throw APIError(.badRequest, "stop_at is longer than 100 characters")
        }
        if let p = r.sampler.problem {
            throw APIError(.badRequest, p.replacingOccurrences(of: "--top-k",
                with: "top_k").replacingOccurrences(of: "--top-p", with: "top_p")
                                         .replacingOccurrences(of: "--temperature", with: "temperature"))
        }
        return r
    }

    var sampler: SamplerConfig { SamplerConfig(temperature: temperature, topK: topK, topP: topP) }

    /// The generation `gasa sample` runs for the same options.
    var generation: GenerationConfig {
        var g = GenerationConfig()
        (g.prime, g.length, g.unknown, g.stopAt, g.sampler) = (prime, length, unknown, stopAt, sampler)
        return g
    }

    private static func snake(_ path: [any CodingKey]) -> String {
        path.map { k in k.stringValue.reduce(into: "") { s, ch in if ch.isUppercase { s += "_" + ch.lowercased() } else { s.append(ch) } } }
            .joined(separator: ".")
    }
}

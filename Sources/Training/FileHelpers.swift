// Small file-system helpers of the training stage: thin names over Storage, folder removal and the
// CRC-32 hex form the manifest uses.
import Foundation
import Storage

func fileExistsAt(_ path: String) -> Bool { fileExists(path) }

func readFileBytesStorage(_ path: String) throws -> [UInt8] { try readFileBytes(path, limit: 1 << 30) }

func crcHex(_ bytes: [UInt8]) -> String { String(format: "%08x", CRC32.checksum(bytes)) }

func removeTree(_ path: String) throws {
    if fileExists(path) || isSymbolicLink(path) { try FileManager.default.removeItem(atPath: path) }
}


/// An absolute, standardised form of `path` (for recording where data came from).
func absolutePath(_ path: String) -> String {
    let p = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    return (p as NSString).standardizingPath
}

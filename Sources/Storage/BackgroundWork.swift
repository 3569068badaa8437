// Work handed to a background thread while the caller goes on (committing finished files, mostly waiting
// on the disk); `wait()` waits for all of it and throws the first error.
import Dispatch
import Foundation

public final class BackgroundWork: @unchecked Sendable {
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var failure: Error?

    public init() {}

    public func run(_ work: @escaping () throws -> Void) {
        DispatchQueue.global().async(group: group) {
            do { try work() } catch {
                self.lock.lock(); if self.failure == nil { self.failure = error }; self.lock.unlock()
            }
        }
    }

    public func wait() throws {
        group.wait()
        lock.lock(); defer { lock.unlock() }
        if let e = failure { throw e }
    }
}

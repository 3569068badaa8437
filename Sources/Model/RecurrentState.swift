// The carried LSTM state of every layer: h then c, each (L, B, H). Truncated BPTT keeps it from one
// minibatch to the next; a checkpoint saves it so a resumed run continues exactly.
import Compute

public final class RecurrentState {
    public let layers: Int
    public let batch: Int
    public let hiddenSize: Int
    private let storage: FloatBuffer

    public init(layers: Int, batch: Int, hiddenSize: Int) {
        self.layers = layers
        self.batch = batch
        self.hiddenSize = hiddenSize
        storage = FloatBuffer(count: 2 * layers * batch * hiddenSize)
    }

    /// h of all layers (L*B*H floats) followed by c of all layers; readable and writable.
    public var values: UnsafeMutableBufferPointer<Float> { storage.buffer }
    public func h(_ layer: Int) -> UnsafeMutablePointer<Float> { storage.pointer + layer * batch * hiddenSize }
    public func c(_ layer: Int) -> UnsafeMutablePointer<Float> { storage.pointer + (layers + layer) * batch * hiddenSize }
    public func reset() { storage.zero() }
    public func copy(from other: RecurrentState) {
        precondition(other.storage.count == storage.count)
        storage.pointer.update(from: other.storage.pointer, count: storage.count)
    }
}

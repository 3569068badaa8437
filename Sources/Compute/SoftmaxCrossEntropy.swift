// Softmax cross-entropy over rows of logits, fused: one pass for the maximum, one for the exponentials
// and their sum, one to turn them into the gradient in place. The loss is accumulated in Double. The
// passes run in KernelShim's elementwise kernels (elementwise_body.h), on the CPU's widest vectors.
import KernelShim

public enum SoftmaxCrossEntropy {
    /// logits: (N, V). Returns the summed loss in nats over the N rows. When gradScale is given, the logits
    /// are overwritten with gradScale * (softmax - onehot(target)). rowLoss, if given, receives each row's loss.
    public static func apply(rows n: Int, classes v: Int, logits: UnsafeMutablePointer<Float>,
                             targets: UnsafePointer<Int32>, gradScale: Float?,
                             rowLoss: UnsafeMutablePointer<Float>? = nil) -> Double {
        gasa_softmax_xent(Int64(n), Int64(v), logits, targets, gradScale == nil ? 0 : 1, gradScale ?? 0, rowLoss)
    }
}

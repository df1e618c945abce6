// Package nn is tagnet's CPU training engine: it interprets the layer list
// of a [models.Graph] (the same description the ONNX writer exports) as a
// network with forward and backward passes on float32 data.
//
// In tagnet's flow it sits between the data pipeline and the optimiser
// (trainer/optim): the training workflow feeds batches to [Net.Forward],
// computes the loss with [BCEWithLogits], calls [Net.Backward], and lets an
// optimiser update the [tensor.Param] views returned by [Net.Params].
//
// # Layout
//
// The network input and the logits follow ONNX ([N,3,H,W] and [N,C]).
// Inside, feature maps are stored channel-major, [C,N,H,W] ("CNHW"), not
// NCHW. With that layout a convolution over the whole batch is a single
// matrix product Y[Cout, N·H'·W'] = W[Cout, Cin·k·k] · cols[Cin·k·k,
// N·H'·W'] whose wide dimension spans the batch, so even layer4's 4×4 maps
// at 128 px give matrix products with hundreds of columns; a 1×1
// stride-1 convolution reads its input as the B matrix with no copy at
// all; and BatchNorm, pooling and the per-channel reductions of the
// backward pass walk one contiguous run of N·H·W values per channel. The
// head's flat values are [N,F] rows, as the linear layers want them.
//
// # Threads and determinism
//
// [Config.Threads] goroutines (default GOMAXPROCS) do all the work;
// the products (oneDNN's matmul; see trainer/blas) run on the calling
// thread, and every goroutine calls one on its own
// chunk of images (im2col of the chunk, then its product), so the im2col
// of one core overlaps the GEMM of the other and the cores are never
// oversubscribed. Chunks are handed out dynamically, so a core slowed by
// another process does less of the work. Each output element is computed
// by exactly one worker with a fixed reduction order; convolution weight
// gradients are summed per fixed share of the batch ("lane": 4, or 2 to 3
// on small maps, where a lane of fewer than 128 columns would slow the
// product; more with more than 4 threads) and the lanes are added in
// order. Results are therefore bit-identical for a fixed seed, and
// independent of the thread count up to 4 threads.
//
// # Memory
//
// Every buffer (activations, gradients, im2col scratch, BatchNorm
// statistics, dropout masks) is allocated by [New] for [Config.MaxBatch];
// a training step allocates nothing. BatchNorm is fused with the ReLU that
// follows it, and a residual block's last BatchNorm with the Add and ReLU
// that follow it, so those intermediate values are never stored.
package nn

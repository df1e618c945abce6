package nn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/blas"
	"github.com/tagnet/tagnet/trainer/tensor"
)

// Config tunes [New]. The zero value of each field is documented.
type Config struct {
	// MaxBatch is the largest batch [Net.Forward] accepts; every buffer is
	// allocated for it. Smaller batches reuse the same buffers. Required.
	MaxBatch int
	// Threads is the number of cores the network uses (worker goroutines,
	// each running single-threaded products). 0 means runtime.GOMAXPROCS(0).
	Threads int
	// Seed seeds the dropout masks: the same seed, batches and thread count
	// give bit-identical training.
	Seed uint64
	// Precision is the operand format of every convolution and linear
	// product, forward and backward: [blas.FP32] (the zero value) or
	// [blas.BF16], which rounds both operands to bfloat16 and accumulates
	// in float32 (PyTorch's CPU autocast policy). Parameters, gradients,
	// activations, BatchNorm, the loss and the optimiser stay float32
	// either way. BF16 needs [blas.BF16Supported]; New fails otherwise.
	Precision blas.Precision
}

// ErrNoForward is returned by [Net.Backward] when no training-mode forward
// pass precedes it.
var ErrNoForward = errors.New("nn: backward without a training forward pass")

// minLanes is the least number of fixed batch shares whose convolution
// weight gradients are summed separately: more shares than workers let a
// worker that another process slows down hand work to the others, and the
// sums do not depend on the thread count up to minLanes threads.
const minLanes = 4

// NumGroups is the number of parameter groups of a ResNet graph (stem to
// layer2, layer3 and layer4, head); see [models.Layer].Group.
const NumGroups = 3

// value is one tensor flowing through the network: a feature map stored
// [C,N,H,W] (h > 0), a flat [N,C] matrix (h == 0), or the NCHW network
// input.
type value struct {
	name    string
	c, h, w int
	nchw    bool
	data    []float32
	grad    []float32 // nil when no gradient flows into it
	gradSet bool      // during Backward: grad holds a contribution already
}

// per is the number of elements per image.
func (v *value) per() int {
	if v.h == 0 {
		return v.c
	}
	return v.c * v.h * v.w
}

// hw is the spatial size (1 for flat values).
func (v *value) hw() int {
	if v.h == 0 {
		return 1
	}
	return v.h * v.w
}

// claimGrad reports whether a backward kernel writing into v.grad must
// add to it (another consumer wrote first) and marks it written.
func (v *value) claimGrad() (add bool) {
	add = v.gradSet
	v.gradSet = true
	return add
}

// layer is one executable step; fused layers cover several graph layers.
type layer interface {
	forward(train bool)
	backward()
}

// Net is a network interpreted from a [models.Graph], with its parameters,
// activations, gradients and scratch buffers. A Net is not safe for
// concurrent use; its methods must be called from one goroutine at a time.
type Net struct {
	graph   *models.Graph
	cfg     Config
	threads int
	pool    *pool

	params []*tensor.Param
	byName map[string]*tensor.Param

	values []*value
	input  *value
	output *value
	layers []layer
	bns    []*batchNorm

	n       int  // batch of the last Forward
	trained bool // the last Forward was in training mode
	rng     *rand.Rand

	gemm    blas.Gemm   // every convolution and linear product
	lanes   int         // fixed split of the batch for weight gradients
	scratch [][]float32 // per worker im2col / col2im buffers
	// scratch16 holds per worker the im2col matrices of bf16 products
	// (bf16 precision only), written already rounded (blas.Im2colBF16).
	scratch16 [][]uint16
	flipped16 []uint16    // the flipped kernel in bf16 (bf16 precision only)
	partial   [][]float32 // per lane (index >= 1) weight-gradient partial sums
	flipped   []float32   // the flipped kernel of the conv being back-propagated
}

// New builds the network of g with weights w (copied; see [models.Init]),
// allocating every buffer for cfg.MaxBatch images of g.Spec.InputSize
// pixels. It sets OpenBLAS to one thread per call (the process-wide setting:
// the engine parallelises over its own goroutines). Call [Net.Close] to stop
// the worker goroutines when done.
func New(g *models.Graph, w models.Weights, cfg Config) (*Net, error) {
	if g == nil {
		return nil, errors.New("nn: nil graph")
	}
	if cfg.MaxBatch < 1 {
		return nil, fmt.Errorf("nn: max batch %d is invalid: must be >= 1", cfg.MaxBatch)
	}
	if cfg.Threads < 0 {
		return nil, fmt.Errorf("nn: threads %d is invalid: must be >= 0", cfg.Threads)
	}
	if err := w.Check(g); err != nil {
		return nil, fmt.Errorf("nn: building %s: %w", g.Spec.Arch, err)
	}
	gemm, err := gemmFor(cfg.Precision)
	if err != nil {
		return nil, err
	}
	threads := cfg.Threads
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	blas.SetThreads(1)
	n := &Net{
		graph:   g,
		cfg:     cfg,
		gemm:    gemm,
		threads: threads,
		lanes:   max(minLanes, threads),
		byName:  make(map[string]*tensor.Param, len(g.Params)),
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x64726f70)), // "drop"
	}
	for _, p := range g.Params {
		tp := &tensor.Param{Param: p, Value: slices.Clone(w[p.Name].Data)}
		tp.Shape = slices.Clone(p.Shape)
		if p.Kind.Trainable() {
			tp.Grad = make([]float32, p.Size())
		}
		n.params = append(n.params, tp)
		n.byName[p.Name] = tp
	}
	if err := n.plan(); err != nil {
		return nil, fmt.Errorf("nn: building %s: %w", g.Spec.Arch, err)
	}
	n.pool = newPool(threads)
	runtime.AddCleanup(n, func(p *pool) { p.close() }, n.pool)
	return n, nil
}

// fp32Gemm is the fp32 product the engine uses (see gemmFor): oneDNN's
// matmul, which dispatches to AVX-512 kernels where the CPU has them,
// measured 1.4–1.9× faster per training step than OpenBLAS's sgemm
// (BenchmarkTrainStepFP32Kernels; Debian's OpenBLAS runs its Haswell AVX2
// kernels under this workplace's OPENBLAS_CORETYPE).
var fp32Gemm blas.Gemm = dnnlFP32

func dnnlFP32(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	blas.MatMul(blas.FP32, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmFor returns the matrix product for a precision: oneDNN's fp32 or
// bf16 matmul.
func gemmFor(p blas.Precision) (blas.Gemm, error) {
	switch p {
	case blas.FP32:
		return fp32Gemm, nil
	case blas.BF16:
		if !blas.BF16Supported() {
			return nil, errors.New("nn: bf16 precision needs a CPU with AVX512_BF16 or AMX (oneDNN reports none here); use fp32")
		}
		return bf16Gemm, nil
	}
	return nil, fmt.Errorf("nn: unknown precision %d", int(p))
}

func bf16Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	blas.MatMul(blas.BF16, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Precision returns the operand format of the network's products.
func (n *Net) Precision() blas.Precision { return n.cfg.Precision }

// Close stops the worker goroutines. The Net must not be used afterwards.
func (n *Net) Close() { n.pool.close() }

// Graph returns the architecture the network interprets.
func (n *Net) Graph() *models.Graph { return n.graph }

// Threads returns the number of worker goroutines.
func (n *Net) Threads() int { return n.threads }

// MaxBatch returns the largest batch Forward accepts.
func (n *Net) MaxBatch() int { return n.cfg.MaxBatch }

// InputLen returns the number of input values per image (3·S·S).
func (n *Net) InputLen() int { return n.input.per() }

// NumClasses returns the number of logits per image.
func (n *Net) NumClasses() int { return n.output.per() }

// Forward runs the network on batch images x ([batch,3,S,S] float32, NCHW,
// S = the graph's InputSize, already normalised) and returns the logits
// [batch, NumClasses]. The returned slice is owned by the Net and valid
// until the next Forward. In training mode BatchNorm uses (and updates the
// running estimates from) the batch statistics and dropout is active; in
// evaluation mode BatchNorm uses its running statistics and dropout is the
// identity, as the exported ONNX model computes.
func (n *Net) Forward(x []float32, batch int, train bool) ([]float32, error) {
	if batch < 1 || batch > n.cfg.MaxBatch {
		return nil, fmt.Errorf("nn: forward: batch %d is out of range [1, %d]", batch, n.cfg.MaxBatch)
	}
	if want := batch * n.input.per(); len(x) != want {
		return nil, fmt.Errorf("nn: forward: input has %d values, want %d (batch %d × 3×%d×%d)", len(x), want, batch, n.input.h, n.input.w)
	}
	if train {
		for _, b := range n.bns {
			if batch*b.x.hw() < 2 {
				return nil, fmt.Errorf("nn: forward: batchnorm %s needs more than one value per channel in training (batch %d)", b.name, batch)
			}
		}
	}
	n.n = batch
	n.trained = false
	copy(n.input.data, x)
	for _, l := range n.layers {
		l.forward(train)
	}
	n.trained = train
	return n.output.data[:batch*n.output.per()], nil
}

// Backward propagates dlogits (the gradient of the loss with respect to the
// logits of the last Forward, [batch, NumClasses]) through the network and
// overwrites the gradients of all parameters that are not frozen. It needs
// a training-mode Forward before it.
func (n *Net) Backward(dlogits []float32) error {
	if !n.trained {
		return ErrNoForward
	}
	if want := n.n * n.output.per(); len(dlogits) != want {
		return fmt.Errorf("nn: backward: gradient has %d values, want %d", len(dlogits), want)
	}
	for _, v := range n.values {
		v.gradSet = false
	}
	copy(n.output.grad, dlogits)
	n.output.gradSet = true
	for i := len(n.layers) - 1; i >= 0; i-- {
		n.layers[i].backward()
	}
	return nil
}

// Params returns views of every parameter and buffer, in the order of
// [models.Graph].Params (the order of optimiser state and checkpoints).
// The views stay valid for the life of the Net.
func (n *Net) Params() []*tensor.Param { return n.params }

// Param returns the parameter called name (a torchvision name).
func (n *Net) Param(name string) (*tensor.Param, bool) {
	p, ok := n.byName[name]
	return p, ok
}

// ZeroGrad sets every gradient to zero. Backward overwrites gradients, so
// the training loop does not need it; it is here for callers that inspect
// gradients.
func (n *Net) ZeroGrad() {
	for _, p := range n.params {
		clear(p.Grad)
	}
}

// FreezeTo freezes the parameter groups before group (fastai's freeze_to):
// their convolution and linear parameters stop training, while BatchNorm
// parameters keep training (fastai's train_bn). FreezeTo(0) unfreezes
// everything. Clear the optimiser's state after changing what is frozen
// (fastai does), e.g. with its Reset method.
func (n *Net) FreezeTo(group int) {
	for _, p := range n.params {
		p.Frozen = p.Grad != nil && p.Group < group && !p.Kind.IsBN()
	}
}

// Freeze trains only the head (and every BatchNorm): FreezeTo(NumGroups-1).
func (n *Net) Freeze() { n.FreezeTo(NumGroups - 1) }

// Unfreeze trains every parameter: FreezeTo(0).
func (n *Net) Unfreeze() { n.FreezeTo(0) }

// Weights returns a copy of every parameter and buffer, ready for
// [models.Model] (export) or a checkpoint.
func (n *Net) Weights() models.Weights {
	w := make(models.Weights, len(n.params))
	for _, p := range n.params {
		w[p.Name] = &models.Tensor{Shape: slices.Clone(p.Shape), Data: slices.Clone(p.Value)}
	}
	return w
}

// SetWeights copies w into the network's parameters and buffers; w must
// hold exactly the graph's parameters with their shapes.
func (n *Net) SetWeights(w models.Weights) error {
	if err := w.Check(n.graph); err != nil {
		return fmt.Errorf("nn: setting weights: %w", err)
	}
	for _, p := range n.params {
		copy(p.Value, w[p.Name].Data)
	}
	return nil
}

// FLOPs returns the floating-point operations of the network's matrix
// products (convolutions and linear layers, 2 per multiply-add) for one
// pass over batch images: the forward pass alone, or with train the forward
// and backward passes (weight and input gradients; none for the input
// image). Element-wise work is not counted. Dividing by a step's duration
// gives the achieved GFLOP/s that benchmarks compare with the product's.
func (n *Net) FLOPs(batch int, train bool) float64 {
	var f float64
	for _, l := range n.layers {
		var macs float64
		dx := true
		switch l := l.(type) {
		case *conv:
			macs = float64(l.cout * l.kk * l.g.ho * l.g.wo)
			dx = l.x.grad != nil
		case *linear:
			macs = float64(l.in * l.out)
		default:
			continue
		}
		passes := 1.0
		if train {
			passes = 2
			if dx {
				passes = 3
			}
		}
		f += 2 * macs * passes * float64(batch)
	}
	return f
}

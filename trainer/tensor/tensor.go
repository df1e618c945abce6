// Package tensor holds the types the training engine's packages share: a
// named parameter with its value, its gradient and its frozen flag.
//
// In tagnet's flow, trainer/nn owns the storage of every parameter and hands
// out [Param] views of it; trainer/optim updates those views in place; the
// training workflow reads and writes them (checkpoints, export). Keeping the
// type here lets trainer/optim stay free of the network code (and of cgo).
package tensor

import "github.com/tagnet/tagnet/models"

// Param is one named tensor of the model, as a view into the engine's
// storage. Writing Value changes the model; Grad is overwritten by each
// backward pass.
type Param struct {
	// Param is the description from the architecture (torchvision name,
	// kind, shape, parameter group).
	models.Param
	// Value holds the parameter's elements in the row-major order of
	// Param.Shape (conv weights [out,in,k,k], linear weights [out,in]).
	Value []float32
	// Grad has the length of Value for trainable kinds and is nil for
	// buffers (BatchNorm running statistics). It holds the gradient of the
	// last backward pass; it is not updated while Frozen.
	Grad []float32
	// Frozen is true while the parameter is excluded from training (its
	// gradient is not computed and optimisers leave it unchanged). Set
	// through the network's freeze methods, never directly.
	Frozen bool
}

// Trains reports whether an optimiser should update p now: a trainable kind
// that is not frozen.
func (p *Param) Trains() bool { return p.Grad != nil && !p.Frozen }

package nn

import (
	"fmt"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/tensor"
)

// linear is a fully connected layer on [N,in]: Y = X·Wᵀ + b with W [out,in].
// Head layers are small, so one goroutine runs them.
type linear struct {
	net     *Net
	x, y    *value
	w, b    *tensor.Param
	in, out int
}

func (n *Net) newLinear(l models.Layer, x, y *value, param paramFunc) (*linear, error) {
	w, err := param(l, "weight")
	if err != nil {
		return nil, err
	}
	lin := &linear{net: n, x: x, y: y, w: w, in: l.InC, out: l.OutC}
	if len(w.Value) != l.InC*l.OutC {
		return nil, fmt.Errorf("layer %s: weight has %d values, want %d", l.Name, len(w.Value), l.InC*l.OutC)
	}
	if l.Bias {
		if lin.b, err = param(l, "bias"); err != nil {
			return nil, err
		}
	}
	return lin, nil
}

func (l *linear) forward(bool) {
	n := l.net.n
	y := l.y.data[:n*l.out]
	l.net.gemm(false, true, n, l.out, l.in, 1, l.x.data[:n*l.in], l.in, l.w.Value, l.in, 0, y, l.out)
	if l.b != nil {
		for i := 0; i < n; i++ {
			row := y[i*l.out : (i+1)*l.out]
			for j, b := range l.b.Value {
				row[j] += b
			}
		}
	}
}

func (l *linear) backward() {
	n := l.net.n
	dy := l.y.grad[:n*l.out]
	if !l.w.Frozen {
		l.net.gemm(true, false, l.out, l.in, n, 1, dy, l.out, l.x.data[:n*l.in], l.in, 0, l.w.Grad, l.in)
	}
	if l.b != nil && !l.b.Frozen {
		for j := range l.b.Grad {
			var s float64
			for i := 0; i < n; i++ {
				s += float64(dy[i*l.out+j])
			}
			l.b.Grad[j] = float32(s)
		}
	}
	if l.x.grad != nil {
		var beta float32
		if l.x.claimGrad() {
			beta = 1
		}
		l.net.gemm(false, false, n, l.in, l.out, 1, dy, l.out, l.w.Value, l.in, beta, l.x.grad[:n*l.in], l.in)
	}
}

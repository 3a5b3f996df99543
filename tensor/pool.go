package tensor

import "fmt"

// Pool recycles tensors: a training step asks for the same shapes in the
// same order every time, so after the first step every Get is served from
// the free lists and the step allocates nothing. Release returns
// everything handed out since the last Release at once; tensors obtained
// before it must not be used after it. A Pool is not safe for concurrent
// use.
type Pool struct {
	free    map[poolKey][]*Tensor
	headers []*Tensor // free headers (for views)
	out     []poolItem
}

type poolKey struct {
	dt DType
	n  int
}

type poolItem struct {
	t    *Tensor
	owns bool // the tensor's storage came from the pool
}

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{free: map[poolKey][]*Tensor{}} }

// Get returns a tensor of the given type and shape. Its contents are
// unspecified (whatever a previous user left); callers overwrite it.
func (p *Pool) Get(dt DType, shape ...int) (*Tensor, error) {
	n, err := checkShape(shape)
	if err != nil {
		return nil, err
	}
	if dt != Float32 && dt != Float64 {
		return nil, fmt.Errorf("%w: unknown dtype %v", ErrDType, dt)
	}
	k := poolKey{dt, n}
	var t *Tensor
	if l := p.free[k]; len(l) > 0 {
		t = l[len(l)-1]
		p.free[k] = l[:len(l)-1]
	} else {
		t = &Tensor{dt: dt}
		if dt == Float32 {
			t.f32 = make([]float32, n)
		} else {
			t.f64 = make([]float64, n)
		}
	}
	t.setShape(shape)
	p.out = append(p.out, poolItem{t: t, owns: true})
	return t, nil
}

// View returns a tensor header of the given shape that shares src's
// storage (a reshape); the header is recycled by Release, the storage is
// not the pool's concern.
func (p *Pool) View(src *Tensor, shape ...int) (*Tensor, error) {
	var t *Tensor
	if len(p.headers) > 0 {
		t = p.headers[len(p.headers)-1]
		p.headers = p.headers[:len(p.headers)-1]
	} else {
		t = &Tensor{}
	}
	if err := t.viewOf(src, shape); err != nil {
		p.headers = append(p.headers, t)
		return nil, err
	}
	p.out = append(p.out, poolItem{t: t})
	return t, nil
}

// Release takes back every tensor handed out since the last Release.
func (p *Pool) Release() { p.ReleaseTo(0) }

// InUse returns the number of tensors handed out and not yet released.
func (p *Pool) InUse() int { return len(p.out) }

// ReleaseTo takes back the tensors handed out after the first n (n is a
// value InUse returned earlier): a stack discipline for scratch work inside
// a step.
func (p *Pool) ReleaseTo(n int) {
	if n < 0 || n > len(p.out) {
		return
	}
	rest := p.out[n:]
	for i, it := range rest {
		if it.owns {
			k := poolKey{it.t.dt, it.t.Len()}
			p.free[k] = append(p.free[k], it.t)
		} else {
			it.t.f32, it.t.f64 = nil, nil
			p.headers = append(p.headers, it.t)
		}
		rest[i] = poolItem{}
	}
	p.out = p.out[:n]
}

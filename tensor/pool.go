package tensor

import "fmt"

// Pool recycles tensors: a training step asks for the same shapes in the
// same order every time, so after the first step every Get is served from
// the free lists and the step allocates nothing. Release returns
// everything handed out since the last Release at once; tensors obtained
// before it must not be used after it. A Pool is not safe for concurrent
// use.
type Pool struct {
	bytes   int64 // storage ever allocated by Get
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
	n, err := checkAlloc(dt, shape)
	if err != nil {
		return nil, err
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
			p.bytes += 4 * int64(n)
		} else {
			t.f64 = make([]float64, n)
			p.bytes += 8 * int64(n)
		}
	}
	t.setShape(shape)
	p.out = append(p.out, poolItem{t: t, owns: true})
	t.slot = len(p.out)
	return t, nil
}

// View returns a tensor header of the given shape that shares src's
// storage (a reshape); the header is recycled by Release, the storage is
// not the pool's concern.
func (p *Pool) View(src *Tensor, shape ...int) (*Tensor, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: View of a nil tensor", ErrShape)
	}
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

// Bytes returns the storage the pool owns, in use or free: its share of
// a program's memory, which stays constant once a repeated step has warmed
// the pool up.
func (p *Pool) Bytes() int64 { return p.bytes }

// Free takes back one tensor that Get handed out, before the next
// Release, so that a later Get can reuse its storage (a backward pass
// frees each gradient once it is consumed). t must not be used after.
// Free reports whether t was one of the pool's tensors in use; anything
// else (a view, a tensor from elsewhere, one already freed) is left alone.
func (p *Pool) Free(t *Tensor) bool {
	if t == nil {
		return false
	}
	i := t.slot - 1
	if i < 0 || i >= len(p.out) || p.out[i].t != t || !p.out[i].owns {
		return false
	}
	p.out[i] = poolItem{}
	t.slot = 0
	k := poolKey{t.dt, t.Len()}
	p.free[k] = append(p.free[k], t)
	return true
}

// Release takes back every tensor handed out since the last Release.
func (p *Pool) Release() { p.ReleaseTo(0) }

// InUse returns the number of tensors handed out since the last Release
// (those given back early with Free included): a mark for ReleaseTo.
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
		if it.t == nil {
			continue // freed early
		}
		if it.owns {
			it.t.slot = 0
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

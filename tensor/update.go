package tensor

import "github.com/flatfast/flatfast/simd"

// updateChunk is the number of floats of each operand a momentum update
// works on at a time (3 x 8 KiB, in L1 on any CPU this runs on): its three
// passes then read and write memory once instead of three times.
const updateChunk = 2048

// MomentumUpdate applies one heavy-ball step in the paper's form (eq. 1)
// in place:
//
//	pi <- beta*pi - g
//	w  <- w + eta*pi
//
// w, pi and g must have the same type and shape. In float32 the three
// passes run a chunk at a time (so each operand goes through memory once)
// and, from elemParallel floats on, on the worker pool; every element goes through
// the same three kernels in turn (simd.Scale, then simd.Axpy twice)
// whatever the chunks and threads, so results do not depend on Threads().
func MomentumUpdate(w, pi, g *Tensor, beta, eta float64) error {
	if err := sameTypeShape("MomentumUpdate", w, pi); err != nil {
		return err
	}
	if err := sameTypeShape("MomentumUpdate", pi, g); err != nil {
		return err
	}
	if w.dt == Float64 {
		pf, gf, wf := pi.f64, g.f64[:len(pi.f64)], w.f64[:len(pi.f64)]
		for j := range pf {
			pf[j] = beta*pf[j] - gf[j]
			wf[j] += eta * pf[j]
		}
		return nil
	}
	u := updatePool.get()
	u.w, u.pi, u.g = w.f32, pi.f32, g.f32
	u.beta, u.eta = float32(beta), float32(eta)
	n := (len(u.pi) + updateChunk - 1) / updateChunk
	parallelForChunked(n, elemThreads(len(u.pi)), u)
	u.w, u.pi, u.g = nil, nil, nil
	updatePool.put(u)
	return nil
}

// momentumTask is one MomentumUpdate: unit i is chunk i.
type momentumTask struct {
	w, pi, g  []float32
	beta, eta float32
}

var updatePool freeList[momentumTask]

func (u *momentumTask) run(_, i int) {
	lo := i * updateChunk
	hi := min(lo+updateChunk, len(u.pi))
	pi, g, w := u.pi[lo:hi], u.g[lo:hi], u.w[lo:hi]
	simd.Scale(u.beta, pi)
	simd.Axpy(-1, g, pi)
	simd.Axpy(u.eta, pi, w)
}

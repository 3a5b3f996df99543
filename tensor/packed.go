package tensor

import (
	"fmt"

	"github.com/flatfast/flatfast/simd"
)

// PackedMatrix is a float32 matrix op(B) (K x N) packed once into the
// panels of the GEMM micro-kernel, for products A*op(B) with many
// different A: the packing, which for a product with few rows of A costs
// as much as the arithmetic, is paid once. It belongs to the SIMD level
// that was active when it was packed and keeps using it. Memory: K x N
// floats, N rounded up to the tile width.
type PackedMatrix struct {
	impl *simd.Impl
	k, n int
	blk  blocking
	kc   int // the inner block, blk.kcFor(k), as the GEMM driver cuts it
	nr   int
	data []float32
	offs []int // start of block (jc, pc) at offs[jcIndex*nPC+pcIndex]
	nPC  int
}

// Pack packs op(b) for later products; b is a 2-D float32 tensor and
// op(b) is b, or its transpose when trans is set.
func Pack(b *Tensor, trans bool) (*PackedMatrix, error) {
	if err := nonNil("Pack", b); err != nil {
		return nil, err
	}
	if b.dt != Float32 || b.nd != 2 {
		return nil, fmt.Errorf("%w: Pack needs a 2-D float32 matrix, got %v %v", ErrShape, b.dt, shapeString(b.Shape()))
	}
	k, n := b.dims[0], b.dims[1]
	if trans {
		k, n = n, k
	}
	impl := simd.Active()
	_, nr := impl.GemmTile()
	p := &PackedMatrix{impl: impl, k: k, n: n, blk: blocksFor(impl), nr: nr}
	p.kc = p.blk.kcFor(k)
	p.nPC = (k + p.kc - 1) / p.kc
	src := &denseB{impl: impl, b: b.f32, ldb: b.dims[1], trans: trans}
	for jc := 0; jc < n; jc += p.blk.nc {
		nb := min(p.blk.nc, n-jc)
		panels := (nb + nr - 1) / nr
		for pc := 0; pc < k; pc += p.kc {
			kb := min(p.kc, k-pc)
			off := len(p.data)
			p.offs = append(p.offs, off)
			p.data = append(p.data, make([]float32, panels*nr*kb)...)
			src.packB(0, p.data[off:], pc, kb, jc, nb, nr, 0, panels)
		}
	}
	return p, nil
}

// Rows returns K, Cols returns N: op(B) is K x N.
func (p *PackedMatrix) Rows() int { return p.k }

// Cols returns N.
func (p *PackedMatrix) Cols() int { return p.n }

func (p *PackedMatrix) block(jc, pc int) []float32 {
	i := (jc/p.blk.nc)*p.nPC + pc/p.kc
	end := len(p.data)
	if i+1 < len(p.offs) {
		end = p.offs[i+1]
	}
	return p.data[p.offs[i]:end]
}

// MulInto computes dst = op(a) * op(B) for a 2-D float32 a (transposed
// when transA), writing into dst (new when nil). It uses Threads()
// goroutines and is deterministic like Gemm.
func (p *PackedMatrix) MulInto(dst, a *Tensor, transA bool) (*Tensor, error) {
	if a.dt != Float32 || a.nd != 2 {
		return nil, fmt.Errorf("%w: PackedMatrix.MulInto needs a 2-D float32 matrix, got %v %v", ErrShape, a.dt, shapeString(a.Shape()))
	}
	m, k := a.dims[0], a.dims[1]
	if transA {
		m, k = k, m
	}
	if k != p.k {
		return nil, fmt.Errorf("%w: PackedMatrix.MulInto: op(A) is %dx%d, the packed matrix %dx%d", ErrShape, m, k, p.k, p.n)
	}
	dst, err := prepareDst("PackedMatrix.MulInto", dst, Float32, []int{m, p.n})
	if err != nil {
		return nil, err
	}
	if m == 0 || p.n == 0 {
		return dst, nil
	}
	if p.k == 0 {
		dst.Zero()
		return dst, nil
	}
	j := jobPool.get()
	j.da = denseA{impl: p.impl, a: a.f32, lda: a.dims[1], trans: transA}
	j.setup(p.impl, Threads(), m, p.n, p.k, 1, &j.da, nil, dst.f32, p.n, 0, 0, true)
	j.pre = p // op(B) comes packed: drive reads its blocks
	j.drive()
	j.release()
	jobPool.put(j)
	return dst, nil
}

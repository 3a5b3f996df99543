package sensing

import (
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/tensor"
)

// Problem is one matrix-sensing instance: P measurement matrices A_i
// (d x d, i.i.d. N(0, 1)), a rank-r target X*, and y_i = Tr(A_i X*).
type Problem struct {
	D, R, P int
	// A holds the measurements as rows: A[i] = vec(A_i^T), so that
	// Tr(A_i X) = <A[i], vec(X)> for a row-major X. [P, d*d], float32.
	A *tensor.Tensor
	// Op applies A (prepacked when float32 packing was asked for).
	Op     autodiff.Operator
	XStar  []float64 // d x d, row-major
	Y      []float64 // P
	Sigma1 []float64 // (1/P) sum A_i A_i^T, d x d
	Sigma2 []float64 // (1/P) sum A_i^T A_i, d x d
	// TraceFloor is 4 ||X*||_* (nuclear norm) times mean(diag Sigma)/d:
	// the smallest Hessian trace a factorisation UV = X* can have when the
	// Sigmas are multiples of the identity (approximately true here), a
	// reference for the trace threshold.
	TraceFloor float64
	SingVals   []float64 // of X*, all d
}

// NewProblem draws a problem from seed (float32 operator; packed for the
// GEMM when pack is set, which doubles its memory but makes each product a
// stream over panels).
func NewProblem(d, r, p int, seed uint64, pack bool) (*Problem, error) {
	return newProblem(d, r, p, seed, pack, tensor.Float32)
}

// newProblem is NewProblem with a choice of dtype for the operator
// (float64 for exact checks; packing is float32 only).
func newProblem(d, r, p int, seed uint64, pack bool, dt tensor.DType) (*Problem, error) {
	if d < 1 || r < 1 || r > d || p < 1 {
		return nil, fmt.Errorf("sensing: need d >= r >= 1 and P >= 1 (got d=%d r=%d P=%d)", d, r, p)
	}
	rng := tensor.NewRNG(seed)
	pr := &Problem{D: d, R: r, P: p}
	// X*: the rank-r truncation of a Gaussian matrix (SVD, gonum).
	x0 := mat.NewDense(d, d, nil)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			x0.Set(i, j, rng.NormFloat64())
		}
	}
	var svd mat.SVD
	if !svd.Factorize(x0, mat.SVDFull) {
		return nil, fmt.Errorf("sensing: SVD of the target failed")
	}
	sv := svd.Values(nil)
	var uu, vv mat.Dense
	svd.UTo(&uu)
	svd.VTo(&vv)
	pr.SingVals = sv
	pr.XStar = make([]float64, d*d)
	var nuclear float64
	for k := 0; k < r; k++ {
		nuclear += sv[k]
		for i := 0; i < d; i++ {
			for j := 0; j < d; j++ {
				pr.XStar[i*d+j] += sv[k] * uu.At(i, k) * vv.At(j, k)
			}
		}
	}
	// Measurements, stored transposed per matrix. The values are rounded
	// to float32 first, so y is exact for the float32 operator too.
	a := tensor.Must(tensor.New(dt, p, d*d))
	pr.Y = make([]float64, p)
	s1 := make([]float64, d*d)
	s2 := make([]float64, d*d)
	ai := make([]float64, d*d)
	for i := 0; i < p; i++ {
		for j := range ai {
			ai[j] = float64(float32(rng.NormFloat64()))
		}
		var y float64
		for j := 0; j < d; j++ {
			for k := 0; k < d; k++ {
				a.SetFlat(i*d*d+k*d+j, ai[j*d+k]) // vec(A_i^T)
				y += ai[j*d+k] * pr.XStar[k*d+j]
			}
		}
		pr.Y[i] = y
		accumulateCovariances(s1, s2, ai, d)
	}
	for j := range s1 {
		s1[j] /= float64(p)
		s2[j] /= float64(p)
	}
	pr.Sigma1, pr.Sigma2 = s1, s2
	var diag float64
	for j := 0; j < d; j++ {
		diag += s1[j*d+j] + s2[j*d+j]
	}
	pr.TraceFloor = 4 * nuclear * (diag / float64(2*d)) / float64(d)
	pr.A = a
	if pack && dt == tensor.Float32 {
		op, err := autodiff.NewPackedOperator(a)
		if err != nil {
			return nil, err
		}
		pr.Op = op
	} else {
		pr.Op = autodiff.MatrixOperator{M: a}
	}
	return pr, nil
}

// accumulateCovariances adds A A^T to s1 and A^T A to s2.
func accumulateCovariances(s1, s2, a []float64, d int) {
	for j := 0; j < d; j++ {
		rj := a[j*d : (j+1)*d]
		for k := 0; k < d; k++ {
			rk := a[k*d : (k+1)*d]
			var s float64
			for l := 0; l < d; l++ {
				s += rj[l] * rk[l]
			}
			s1[j*d+k] += s // (A A^T)_jk = sum_l A_jl A_kl
		}
	}
	for j := 0; j < d; j++ {
		for k := 0; k < d; k++ {
			var s float64
			for l := 0; l < d; l++ {
				s += a[l*d+j] * a[l*d+k]
			}
			s2[j*d+k] += s // (A^T A)_jk = sum_l A_lj A_lk
		}
	}
}

// HessianTrace is the paper's eq. 127 for the model X = U V (the paper's
// U V^T with its V transposed): Tr H = (2/d) [Tr(Sigma2 U U^T) +
// Tr(Sigma1 V^T V)] for the noiseless loss (1/(dP)) sum (y_i -
// Tr(A_i U V))^2. The loss is bilinear in (U, V), so the residual part of
// the Hessian has zero trace and the formula holds everywhere, not only on
// the zero-loss manifold.
func (pr *Problem) HessianTrace(u, v []float64) float64 {
	d := pr.D
	var t2, t1 float64
	// Tr(Sigma2 U U^T) = sum_jk Sigma2_jk (U U^T)_kj = sum_jk Sigma2_jk <U_k, U_j>
	// and Tr(Sigma1 V^T V) = sum_jk Sigma1_jk <V^(k), V^(j)> over columns.
	uu := make([]float64, d*d)
	vv := make([]float64, d*d)
	for j := 0; j < d; j++ {
		for k := 0; k <= j; k++ {
			var su, sv float64
			for l := 0; l < d; l++ {
				su += u[j*d+l] * u[k*d+l]
				sv += v[l*d+j] * v[l*d+k]
			}
			uu[j*d+k], uu[k*d+j] = su, su
			vv[j*d+k], vv[k*d+j] = sv, sv
		}
	}
	for j := 0; j < d*d; j++ {
		t2 += pr.Sigma2[j] * uu[j]
		t1 += pr.Sigma1[j] * vv[j]
	}
	return 2 / float64(d) * (t2 + t1)
}

// TestError is the expected test error (1/d) ||X - X*||_F^2 of eq. 13.
func (pr *Problem) TestError(x []float64) float64 {
	var s float64
	for i, v := range x {
		d := v - pr.XStar[i]
		s += d * d
	}
	return s / float64(pr.D)
}

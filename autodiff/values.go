package autodiff

import "github.com/flatfast/flatfast/tensor"

// Tensors returns the tensors of vs, reusing dst when it has room: the
// form optimizers take gradients in.
func Tensors(dst []*tensor.Tensor, vs []*Value) []*tensor.Tensor {
	dst = dst[:0]
	for _, v := range vs {
		dst = append(dst, v.Tensor())
	}
	return dst
}

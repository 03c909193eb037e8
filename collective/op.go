package collective

import "fmt"

// Float is the element type collectives move.
type Float interface{ ~float32 | ~float64 }

// Op is a reduction operation.
type Op uint8

const (
	// Sum adds the contributions.
	Sum Op = iota
	// Mean adds the contributions and divides by the world size.
	Mean
	// Min keeps the smallest contribution.
	Min
	// Max keeps the largest contribution.
	Max
	// WeightedMean computes Σ wᵢxᵢ / Σ wᵢ, each rank giving its weight wᵢ
	// with WithWeight (default 1). The weights must not sum to zero.
	WeightedMean
	numOps
)

var opNames = [...]string{"sum", "mean", "min", "max", "weighted-mean"}

func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// opKind names the collective a frame belongs to.
type opKind uint8

const (
	kindSend opKind = iota + 1
	kindBroadcast
	kindScatter
	kindGather
	kindAllGather
	kindReduce
	kindAllReduce
	kindBarrier
	numKinds
)

var kindNames = [...]string{"", "send/recv", "broadcast", "scatter", "gather", "allgather", "reduce", "allreduce", "barrier"}

func (k opKind) String() string {
	if k.valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (k opKind) valid() bool { return k > 0 && k < numKinds }

// reduceInto combines in into acc element-wise: acc = acc ∘ w·in, or acc =
// w·in when first is set. Sum, Mean and WeightedMean add (weighted for
// WeightedMean); Min and Max compare.
func reduceInto(acc, in []byte, elemSize int, op Op, w float64, first bool) {
	if elemSize == 4 {
		reduceTyped(asF32(acc), asF32(in), op, float32(w), first)
	} else {
		reduceTyped(asF64(acc), asF64(in), op, w, first)
	}
}

func reduceTyped[T Float](acc, in []T, op Op, w T, first bool) {
	in = in[:len(acc)]
	switch {
	case op == WeightedMean && first:
		for i, x := range in {
			acc[i] = w * x
		}
	case op == WeightedMean:
		for i, x := range in {
			acc[i] += w * x
		}
	case first:
		copy(acc, in)
	case op == Sum || op == Mean:
		for i, x := range in {
			acc[i] += x
		}
	case op == Min:
		for i, x := range in {
			acc[i] = min(acc[i], x)
		}
	case op == Max:
		for i, x := range in {
			acc[i] = max(acc[i], x)
		}
	}
}

// scaleInto sets dst = src·s.
func scaleInto(dst, src []byte, elemSize int, s float64) {
	if elemSize == 4 {
		d, x, f := asF32(dst), asF32(src), float32(s)
		for i := range d {
			d[i] = x[i] * f
		}
	} else {
		d, x := asF64(dst), asF64(src)
		for i := range d {
			d[i] = x[i] * s
		}
	}
}

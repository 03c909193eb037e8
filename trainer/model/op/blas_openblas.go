//go:build openblas

package op

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int);
*/
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

// With the openblas build tag, gorgonia's matrix products and the model's
// own ops go through OpenBLAS (cgo; Debian's libopenblas-dev) instead of
// gonum's pure-Go BLAS. Build with
//
//	CGO_LDFLAGS=-lopenblas go build -tags openblas ./...
//
// or `make build-openblas`. OpenBLAS runs single-threaded: the ops split
// a batch over GOMAXPROCS goroutines themselves, and OpenBLAS's own
// threads, spin-waiting beside them (or beside other clients' processes),
// slowed FashionMNISTCNN several times (BenchmarkTrainStep).
func init() {
	C.openblas_set_num_threads(1)
	G.Use(netlib.Implementation{})
}

// blasImpl is the BLAS behind gemm32 and gemm64.
var blasImpl gemmer = netlib.Implementation{}

// BLAS names the BLAS implementation this build uses.
const BLAS = "openblas"

//go:build !amd64 || purego

package simd

// HasAVX2FMA is false where this package has no assembly.
const HasAVX2FMA = false

// HasAVX512F is false where this package has no assembly.
const HasAVX512F = false

var hasAVX2 = false

func maxPool22Rows8([]float32, []float32, []float32, []int32, int, int) int { return 0 }

func sumDot8([]float32, []float32, *[16]float64) int                                     { return 0 }
func normalize8([]float32, []float32, []float32, float32, float32, float32, float32) int { return 0 }
func bnInputGrad8([]float32, []float32, []float32, float32, float32, float32) int        { return 0 }
func relu8([]float32, []float32) int                                                     { return 0 }
func reluMask8([]float32, []float32, []float32) int                                      { return 0 }

func sgdStep8([]float32, []float32, float32) int                         { return 0 }
func sgdMomentum8([]float32, []float32, []float32, float32, float32) int { return 0 }

func add8([]float32, []float32) int   { return 0 }
func fill8([]float32, float32) int    { return 0 }
func sum8([]float32, *[8]float32) int { return 0 }

// Pause does nothing here: this build has no spin-wait hint.
func Pause(n int) {}

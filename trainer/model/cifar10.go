package model

// FLTK's CIFAR-10 CNN (fltk/nets/cifar_10_cnn.py).

func init() {
	register(spec{
		info: ModelInfo{
			Name:       "Cifar10CNN",
			InputShape: []int{3, 32, 32},
			Classes:    10,
			Datasets:   []string{"cifar10"},
			Params:     551466,
			BufferLen:  2 * 2 * (32 + 64 + 128),
			Description: "FLTK Cifar10CNN: 3 stages of 2×[conv3x3 pad1, ReLU, BN] (32, 64, 128) each followed by maxpool2, " +
				"FC 2048-128, FC 128-10 (no ReLU between them, as in FLTK); without FLTK's final softmax (logits go to the cross-entropy)",
		},
		build: func(b *builder, x *node, classes int) *node {
			h := x
			for _, c := range []int{32, 64, 128} {
				h = b.BatchNorm(b.ReLU(b.Conv2d(h, c, 3, 1, 1, true)))
				h = b.BatchNorm(b.ReLU(b.Conv2d(h, c, 3, 1, 1, true)))
				h = b.MaxPool2d(h, 2, 2)
			}
			h = b.Linear(b.Flatten(h), 128)
			return b.Linear(h, classes)
		},
	})
}

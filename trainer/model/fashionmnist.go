package model

// FLTK's Fashion-MNIST CNN (fltk/nets/fashion_mnist_cnn.py).

func init() {
	register(spec{
		info: ModelInfo{
			Name:       "FashionMNISTCNN",
			InputShape: []int{1, 28, 28},
			Classes:    10,
			Datasets:   []string{"fashion-mnist", "mnist"},
			Params:     29034,
			BufferLen:  2 * (16 + 32),
			Description: "FLTK FashionMNISTCNN: [conv5x5 16 pad2, BN, ReLU, maxpool2], " +
				"[conv5x5 32 pad2, BN, ReLU, maxpool2], FC 1568-10",
		},
		build: func(b *builder, x *node, classes int) *node {
			h := b.ReLUMaxPool2d(b.BatchNorm(b.Conv2d(x, 16, 5, 1, 2, true)), 2, 2)
			h = b.ReLUMaxPool2d(b.BatchNorm(b.Conv2d(h, 32, 5, 1, 2, true)), 2, 2)
			return b.Linear(b.Flatten(h), classes)
		},
	})
}

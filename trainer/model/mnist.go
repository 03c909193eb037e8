package model

// McMahan et al. (AISTATS 2017, §3) MNIST models.

func init() {
	register(spec{
		info: ModelInfo{
			Name:        "MNIST2NN",
			InputShape:  []int{1, 28, 28},
			Classes:     10,
			Datasets:    []string{"mnist", "fashion-mnist"},
			Params:      199210,
			Description: "McMahan et al. 2017 2NN: MLP 784-200-200-10 with ReLU",
		},
		build: func(b *builder, x *node, classes int) *node {
			h := b.Flatten(x)
			h = b.ReLU(b.Linear(h, 200))
			h = b.ReLU(b.Linear(h, 200))
			return b.Linear(h, classes)
		},
	})
	register(spec{
		info: ModelInfo{
			Name:       "MNISTCNN",
			InputShape: []int{1, 28, 28},
			Classes:    10,
			Datasets:   []string{"mnist", "fashion-mnist"},
			Params:     1663370,
			Description: "McMahan et al. 2017 CNN: conv5x5 32 same, ReLU, maxpool2, conv5x5 64 same, ReLU, maxpool2, " +
				"FC 3136-512 ReLU, FC 512-10",
		},
		build: func(b *builder, x *node, classes int) *node {
			h := b.ReLUMaxPool2d(b.Conv2d(x, 32, 5, 1, 2, true), 2, 2)
			h = b.ReLUMaxPool2d(b.Conv2d(h, 64, 5, 1, 2, true), 2, 2)
			h = b.ReLU(b.Linear(b.Flatten(h), 512))
			return b.Linear(h, classes)
		},
	})
}

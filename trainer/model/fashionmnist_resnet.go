package model

// FLTK's FashionMNISTResNet (fltk/nets/fashion_mnist_resnet.py), with the
// fix FLTK made later (JMGaljaard b13b73a, 2021: AdaptiveAvgPool2d).

func init() {
	// BatchNorm channels: the stem; per stage two blocks of BN(in) and
	// BN(out).
	bufs := 64
	in := 64
	for _, c := range []int{64, 128, 256, 512} {
		bufs += (in + c) + (c + c)
		in = c
	}
	bufs *= 2
	register(spec{
		info: ModelInfo{
			Name:       "FashionMNISTResNet",
			InputShape: []int{1, 28, 28},
			Classes:    10,
			Datasets:   []string{"fashion-mnist", "mnist"},
			Params:     11177482,
			BufferLen:  bufs,
			Description: "FLTK FashionMNISTResNet: conv7x7/2 pad3 64 + BN + ReLU + maxpool3/2 pad1, " +
				"4 stages of 2 pre-activation blocks [BN, ReLU, conv3x3, BN, ReLU, conv3x3] + identity or conv1x1/2 shortcut " +
				"(64, 128, 256, 512), global avgpool (FLTK's AvgPool2d(3) fails on 28x28), FC 512-10",
		},
		build: func(b *builder, x *node, classes int) *node {
			// 28×28 → 14×14 (conv) → 7×7 (pool) → 7, 4, 2, 1 (stages).
			h := b.ReLUMaxPool2dPad(b.BatchNorm(b.Conv2d(x, 64, 7, 2, 3, true)), 3, 2, 1)
			for i, c := range []int{64, 128, 256, 512} {
				if i == 0 {
					h = b.PreActBlock(h, c, 1, false)
				} else {
					h = b.PreActBlock(h, c, 2, true)
				}
				h = b.PreActBlock(h, c, 1, false)
			}
			return b.Linear(b.GlobalAvgPool(h), classes)
		},
	})
}

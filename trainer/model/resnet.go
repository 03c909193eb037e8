package model

// ResNet-18 for CIFAR (He et al. 2016), as FLTK's Cifar10ResNet
// (fltk/nets/cifar_10_resnet.py, kuangliu's pytorch-cifar) and
// Cifar100ResNet (fltk/nets/cifar_100_resnet.py, weiaicunzai's
// pytorch-cifar100): the same network up to the pooling and the classes.

// resnet18BufferLen is the running mean and variance of ResNet-18's 20
// BatchNorm layers: 64 (stem) + 4·64 + (5·128 + 5·256 + 5·512) channels.
const resnet18BufferLen = 2 * (64 + 4*64 + 5*128 + 5*256 + 5*512)

// resnet18 adds the stem (conv3×3 3→64 without bias, BN, ReLU) and the
// four stages of two BasicBlocks (64, 128, 256, 512 channels; stride 1,
// 2, 2, 2) to x (N, 3, 32, 32) and returns (N, 512, 4, 4).
func resnet18(b *builder, x *node) *node {
	h := b.ReLU(b.BatchNorm(b.Conv2d(x, 64, 3, 1, 1, false)))
	for i, c := range []int{64, 128, 256, 512} {
		stride := 2
		if i == 0 {
			stride = 1
		}
		h = b.BasicBlock(b.BasicBlock(h, c, stride), c, 1)
	}
	return h
}

func init() {
	register(spec{
		info: ModelInfo{
			Name:       "Cifar10ResNet",
			InputShape: []int{3, 32, 32},
			Classes:    10,
			Datasets:   []string{"cifar10"},
			Params:     11173962,
			BufferLen:  resnet18BufferLen,
			Description: "FLTK Cifar10ResNet (kuangliu ResNet-18): conv3x3 64 + BN + ReLU, " +
				"BasicBlock ×[2,2,2,2] (64, 128, 256, 512), avgpool4, FC 512-10",
		},
		build: func(b *builder, x *node, classes int) *node {
			h := b.AvgPool2d(resnet18(b, x), 4)
			return b.Linear(b.Flatten(h), classes)
		},
	})
	register(spec{
		info: ModelInfo{
			Name:       "Cifar100ResNet",
			InputShape: []int{3, 32, 32},
			Classes:    100,
			Datasets:   []string{"cifar100"},
			Params:     11220132,
			BufferLen:  resnet18BufferLen,
			Description: "FLTK Cifar100ResNet (weiaicunzai ResNet-18): conv3x3 64 + BN + ReLU, " +
				"BasicBlock ×[2,2,2,2] (64, 128, 256, 512), global avgpool, FC 512-100",
		},
		build: func(b *builder, x *node, classes int) *node {
			return b.Linear(b.GlobalAvgPool(resnet18(b, x)), classes)
		},
	})
}

package model

// FLTK's Cifar100VGG (fltk/nets/cifar_100_vgg.py, weiaicunzai's
// pytorch-cifar100 vgg16_bn): VGG-16 with BatchNorm (Simonyan & Zisserman
// 2015, configuration D).

// vgg16 is configuration D: output channels of the 3×3 convolutions, 0
// for a 2×2 max pool.
var vgg16 = []int{64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0}

func init() {
	bufs := 0
	for _, c := range vgg16 {
		bufs += 2 * c
	}
	register(spec{
		info: ModelInfo{
			Name:       "Cifar100VGG",
			InputShape: []int{3, 32, 32},
			Classes:    100,
			Datasets:   []string{"cifar100"},
			Params:     34015396,
			BufferLen:  bufs,
			Description: "FLTK Cifar100VGG (VGG-16-BN, cfg D): 13×[conv3x3 pad1 with bias, BN, ReLU] with 5 maxpool2 " +
				"(64,64,M,128,128,M,256×3,M,512×3,M,512×3,M), FC 512-4096, ReLU, Dropout 0.5, FC 4096-4096, ReLU, Dropout 0.5, FC 4096-100",
		},
		build: func(b *builder, x *node, classes int) *node {
			h := x
			for _, c := range vgg16 {
				if c == 0 {
					h = b.MaxPool2d(h, 2, 2)
				} else {
					h = b.ReLU(b.BatchNorm(b.Conv2d(h, c, 3, 1, 1, true)))
				}
			}
			h = b.Flatten(h) // (N, 512, 1, 1) → (N, 512)
			h = b.Dropout(b.ReLU(b.Linear(h, 4096)), 0.5)
			h = b.Dropout(b.ReLU(b.Linear(h, 4096)), 0.5)
			return b.Linear(h, classes)
		},
	})
}

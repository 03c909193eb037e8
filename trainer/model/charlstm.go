package model

// A character-level LSTM language model for the text data sets (trainer/data
// opticks, bible), in the spirit of McMahan et al. 2017's Shakespeare LSTM
// and FLTK's RNNModel (fltk/nets/reddit_lstm.py), with one layer.

// charLSTMVocab is CharLSTM's default vocabulary size (LEAF Shakespeare's
// 80 characters); set Config.Classes to the data set's.
const charLSTMVocab = 80

// charLSTMParams is the number of trainable parameters of CharLSTM with
// vocabulary v, embedding width e and h units.
func charLSTMParams(v, e, h int) int {
	return v*e + // embedding
		e*4*h + h*4*h + 4*h + // LSTM
		h*v + v // decoder
}

func init() { register(charLSTM) }

// charLSTM is CharLSTM's registry entry.
var charLSTM = spec{
	info: ModelInfo{
		Name:       "CharLSTM",
		InputShape: nil, // {Config.SeqLen}
		Classes:    charLSTMVocab,
		Datasets:   []string{"opticks", "bible"},
		Params:     charLSTMParams(charLSTMVocab, DefaultEmbed, DefaultHidden),
		Description: "character LSTM language model: embedding V-E, one LSTM layer of H units unrolled over the " +
			"T = SeqLen steps of a window, FC H-V at every step (defaults V 80, E 8, H 128, T 80)",
	},
	tokens: true,
	build: func(b *builder, x *node, classes int) *node {
		e := b.Embedding(x, classes, b.cfg.Embed)  // (T·N, E), time-major
		h := b.LSTM(e, b.cfg.SeqLen, b.cfg.Hidden) // (N·T, H), sample-major
		return b.Linear(h, classes)
	},
}

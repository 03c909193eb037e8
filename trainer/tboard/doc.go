// Package tboard writes TensorBoard event files: the scalars of a run, one
// event per step, in the format `tensorboard --logdir` reads. Start from
// [Create].
//
// # Usage
//
//	w, err := tboard.Create("results/exp/tb")
//	if err != nil { … }
//	defer w.Close()
//	err = w.Write(round, time.Now(), []tboard.Scalar{{Tag: "Test Accuracy", Value: acc}})
//	err = w.Flush() // readable now, even if the process dies
//
// # Format
//
// An event file is a TFRecord file: each record is the little-endian
// uint64 length of its data, the masked CRC-32C (Castagnoli) of those 8
// bytes, the data, and the masked CRC-32C of the data, where
// mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8. Each record's data
// is a tensorflow.Event protocol buffer (tensorflow/core/util/event.proto):
// wall_time (double, field 1), step (int64, 2), and either file_version
// (string, 3; the first record, "brain.Event:2") or summary (Summary, 5),
// whose repeated value (field 1) holds a tag (string, 1) and a
// simple_value (float, 2). The messages are encoded with the protowire
// package of google.golang.org/protobuf: five fields need no generated
// code.
//
// The file is named events.out.tfevents.<unix seconds>.<host>, which is
// what TensorBoard looks for in each directory below its log directory.
package tboard

// Package tboardtest reads TensorBoard event files back for tests,
// independently of the writer in package tboard: it checks the TFRecord
// framing and both CRCs of every record, and decodes the events with
// dynamicpb from a descriptor of tensorflow.Event built with protodesc.
// Start from [ReadFile].
package tboardtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// ErrCorrupt is returned for a record whose framing or CRC is wrong.
var ErrCorrupt = errors.New("tboardtest: corrupt record")

// Event is a decoded tensorflow.Event.
type Event struct {
	WallTime    float64
	Step        int64
	FileVersion string
	Values      []Value // the summary's values, in order
}

// Value is one simple_value of a summary.
type Value struct {
	Tag   string
	Value float32
}

// eventDesc is the descriptor of tensorflow.Event with the fields the
// writer uses, as in tensorflow/core/util/event.proto and
// tensorflow/core/framework/summary.proto.
var eventDesc = func() protoreflect.MessageDescriptor {
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	rep := descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	field := func(name string, num int32, label *descriptorpb.FieldDescriptorProto_Label,
		typ descriptorpb.FieldDescriptorProto_Type, msg string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(num), Label: label, Type: typ.Enum()}
		if msg != "" {
			f.TypeName = proto.String(msg)
		}
		return f
	}
	fd := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("tboardtest/event.proto"),
		Package: proto.String("tensorflow"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Event"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("wall_time", 1, opt, descriptorpb.FieldDescriptorProto_TYPE_DOUBLE, ""),
				field("step", 2, opt, descriptorpb.FieldDescriptorProto_TYPE_INT64, ""),
				field("file_version", 3, opt, descriptorpb.FieldDescriptorProto_TYPE_STRING, ""),
				field("summary", 5, opt, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, ".tensorflow.Summary"),
			},
		}, {
			Name:  proto.String("Summary"),
			Field: []*descriptorpb.FieldDescriptorProto{field("value", 1, rep, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, ".tensorflow.Summary.Value")},
			NestedType: []*descriptorpb.DescriptorProto{{
				Name: proto.String("Value"),
				Field: []*descriptorpb.FieldDescriptorProto{
					field("tag", 1, opt, descriptorpb.FieldDescriptorProto_TYPE_STRING, ""),
					field("simple_value", 2, opt, descriptorpb.FieldDescriptorProto_TYPE_FLOAT, ""),
				},
			}},
		}},
	}
	f, err := protodesc.NewFile(fd, nil)
	if err != nil {
		panic(fmt.Sprintf("tboardtest: event descriptor: %v", err)) // programmer error
	}
	return f.Messages().ByName("Event")
}()

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func masked(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// Records splits a TFRecord file into its records' data, checking the
// framing and both CRCs of each.
func Records(b []byte) ([][]byte, error) {
	var out [][]byte
	for off := 0; off < len(b); {
		if len(b)-off < 12 {
			return out, fmt.Errorf("%w at byte %d: truncated header", ErrCorrupt, off)
		}
		n := binary.LittleEndian.Uint64(b[off:])
		if got, want := binary.LittleEndian.Uint32(b[off+8:]), masked(b[off:off+8]); got != want {
			return out, fmt.Errorf("%w at byte %d: length CRC %#x, want %#x", ErrCorrupt, off, got, want)
		}
		off += 12
		if n > uint64(len(b)-off) || uint64(len(b)-off)-n < 4 {
			return out, fmt.Errorf("%w at byte %d: %d bytes of data do not fit", ErrCorrupt, off, n)
		}
		data := b[off : off+int(n)]
		off += int(n)
		if got, want := binary.LittleEndian.Uint32(b[off:]), masked(data); got != want {
			return out, fmt.Errorf("%w at byte %d: data CRC %#x, want %#x", ErrCorrupt, off, got, want)
		}
		off += 4
		out = append(out, data)
	}
	return out, nil
}

// Decode decodes the events of a TFRecord file's contents.
func Decode(b []byte) ([]Event, error) {
	recs, err := Records(b)
	if err != nil {
		return nil, err
	}
	fields := eventDesc.Fields()
	summary := fields.ByName("summary")
	valueDesc := summary.Message().Fields().ByName("value")
	tagF := valueDesc.Message().Fields().ByName("tag")
	simpleF := valueDesc.Message().Fields().ByName("simple_value")
	events := make([]Event, 0, len(recs))
	for i, r := range recs {
		m := dynamicpb.NewMessage(eventDesc)
		if err := proto.Unmarshal(r, m); err != nil {
			return nil, fmt.Errorf("tboardtest: event %d: %w", i, err)
		}
		if m.GetUnknown() != nil {
			return nil, fmt.Errorf("tboardtest: event %d has unknown fields", i)
		}
		ev := Event{
			WallTime:    m.Get(fields.ByName("wall_time")).Float(),
			Step:        m.Get(fields.ByName("step")).Int(),
			FileVersion: m.Get(fields.ByName("file_version")).String(),
		}
		if m.Has(summary) {
			list := m.Get(summary).Message().Get(valueDesc).List()
			for k := 0; k < list.Len(); k++ {
				v := list.Get(k).Message()
				ev.Values = append(ev.Values, Value{Tag: v.Get(tagF).String(), Value: float32(v.Get(simpleF).Float())})
			}
		}
		events = append(events, ev)
	}
	return events, nil
}

// ReadFile reads and decodes the event file at path.
func ReadFile(path string) ([]Event, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tboardtest: %w", err)
	}
	return Decode(b)
}

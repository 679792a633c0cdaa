package transcode

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// fieldPath is a dotted path of fields from a request message, resolved once.
type fieldPath []protoreflect.FieldDescriptor

func (f fieldPath) String() string {
	var b strings.Builder
	for i, fd := range f {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(string(fd.Name()))
	}
	return b.String()
}

// resolvePath finds path in md. byJSON also accepts each part's JSON name, as query
// parameters may use either spelling. Every part but the last must be a singular message.
func resolvePath(md protoreflect.MessageDescriptor, path string, byJSON bool) (fieldPath, error) {
	var out fieldPath
	for part := range strings.SplitSeq(path, ".") {
		if md == nil {
			return nil, fmt.Errorf("%s: %s is not a message", path, out)
		}
		fields := md.Fields()
		fd := fields.ByName(protoreflect.Name(part))
		if fd == nil && byJSON {
			fd = fields.ByJSONName(part)
		}
		if fd == nil {
			return nil, fmt.Errorf("%s: no field %q in %s", path, part, md.FullName())
		}
		out = append(out, fd)
		md = nil
		if fd.Kind() == protoreflect.MessageKind && fd.Cardinality() != protoreflect.Repeated {
			md = fd.Message()
		}
	}
	return out, nil
}

// setField parses values into the field at path in m, making the messages on the way.
// A repeated field takes every value; any other field exactly one.
func setField(m protoreflect.Message, path fieldPath, values []string) error {
	for _, fd := range path[:len(path)-1] {
		m = m.Mutable(fd).Message()
	}
	fd := path[len(path)-1]
	switch {
	case fd.IsMap():
		return fmt.Errorf("map field %s cannot be set from a string", path)
	case fd.IsList():
		list := m.Mutable(fd).List()
		for _, s := range values {
			v, err := parseValue(fd, s, list.NewElement)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			list.Append(v)
		}
		return nil
	}
	if len(values) != 1 {
		return fmt.Errorf("%s: %d values for a field that is not repeated", path, len(values))
	}
	v, err := parseValue(fd, values[0], func() protoreflect.Value { return m.NewField(fd) })
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	m.Set(fd, v)
	return nil
}

// parseValue reads s as a value of fd's kind; a message (a well-known type such as
// Timestamp, Duration, FieldMask or a wrapper) is read as the JSON string protojson gives it.
func parseValue(fd protoreflect.FieldDescriptor, s string, newMsg func() protoreflect.Value) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(s)
		return protoreflect.ValueOfBool(b), err
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		return protoreflect.ValueOfInt32(int32(n)), err
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(s, 10, 64)
		return protoreflect.ValueOfInt64(n), err
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(s, 10, 32)
		return protoreflect.ValueOfUint32(uint32(n)), err
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(s, 10, 64)
		return protoreflect.ValueOfUint64(n), err
	case protoreflect.FloatKind:
		f, err := parseFloat(s, 32)
		return protoreflect.ValueOfFloat32(float32(f)), err
	case protoreflect.DoubleKind:
		f, err := parseFloat(s, 64)
		return protoreflect.ValueOfFloat64(f), err
	case protoreflect.BytesKind:
		b, err := parseBytes(s)
		return protoreflect.ValueOfBytes(b), err
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByName(protoreflect.Name(s)); ev != nil {
			return protoreflect.ValueOfEnum(ev.Number()), nil
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q is not a value of %s", s, fd.Enum().FullName())
		}
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		v := newMsg()
		js := strconv.Quote(s)
		if fd.Message().FullName() == "google.protobuf.BoolValue" {
			js = s // protojson wants a JSON boolean here, not a string
		}
		if err := protojson.Unmarshal([]byte(js), v.Message().Interface()); err != nil {
			return protoreflect.Value{}, err
		}
		return v, nil
	}
	return protoreflect.Value{}, fmt.Errorf("kind %s cannot be set from a string", fd.Kind())
}

func parseFloat(s string, bits int) (float64, error) {
	switch s { // protojson's spellings
	case "Infinity":
		s = "+Inf"
	case "-Infinity":
		s = "-Inf"
	}
	return strconv.ParseFloat(s, bits)
}

// parseBytes accepts base64 with or without padding, standard or URL-safe.
func parseBytes(s string) ([]byte, error) {
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return enc.DecodeString(s)
}

package transcode

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// protojsonPos finds the position protojson gives its errors: "(line 3:14)".
var protojsonPos = regexp.MustCompile(`\(line (\d+):(\d+)\)`)

// bodyError is the 400 for a body protojson refused, naming the field path where it went
// wrong ("book.author.born") so that a client finds the bad value without reading the JSON
// by line and column.
// prefix is the body field's name when data is that field's JSON.
func bodyError(prefix string, data []byte, err error) error {
	path := ""
	if m := protojsonPos.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		path = pathAt(data, offsetOf(data, line, col))
	}
	if prefix != "" {
		path = strings.TrimSuffix(prefix+"."+path, ".")
	}
	if path == "" {
		return status.Errorf(codes.InvalidArgument, "body: %v", err)
	}
	return status.Errorf(codes.InvalidArgument, "body: field %s: %v", path, err)
}

// offsetOf turns protojson's 1-based line and column into a byte offset in data.
func offsetOf(data []byte, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return len(data)
		}
		off += i + 1
	}
	return min(off+col-1, len(data))
}

// pathAt returns the dotted path ("a.b[2].c") of the value that data's byte offset falls
// in, as far as data parses up to there.
func pathAt(data []byte, offset int) string {
	type level struct {
		key     string
		index   int
		array   bool
		wantKey bool
	}
	var stack []level
	d := json.NewDecoder(bytes.NewReader(data))
	for d.InputOffset() < int64(offset) {
		tok, err := d.Token()
		if err != nil {
			break
		}
		var top *level
		if n := len(stack); n > 0 {
			top = &stack[n-1]
		}
		if top != nil && top.wantKey {
			if key, ok := tok.(string); ok {
				top.key, top.wantKey = key, false
				continue
			}
		}
		if delim, ok := tok.(json.Delim); ok && (delim == '}' || delim == ']') {
			stack = stack[:len(stack)-1]
			if n := len(stack); n > 0 && !stack[n-1].array {
				stack[n-1].wantKey = true
			}
			continue
		}
		// tok starts a value.
		if top != nil && top.array {
			top.index++
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, level{wantKey: true})
		case json.Delim('['):
			stack = append(stack, level{array: true, index: -1})
		default:
			if top != nil && !top.array {
				top.wantKey = true
			}
		}
	}
	var b strings.Builder
	for _, l := range stack {
		switch {
		case l.array && l.index >= 0:
			b.WriteString("[" + strconv.Itoa(l.index) + "]")
		case !l.array && l.key != "":
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(l.key)
		}
	}
	return b.String()
}

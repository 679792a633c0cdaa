// Package httperr is Tianshu's one JSON error body: every HTTP answer that is not 2xx, from
// any Tianshu HTTP server, gateway or example, carries
//
//	{"code": "INVALID_ARGUMENT", "message": "quantity must be positive", "details": []}
//
// code is the gRPC status code's canonical name (the enum names of google.rpc.Code, as the
// "status" field of Google APIs' errors spells them): a reader of curl output or a log
// understands it without a table, and a client switches on it as on a gRPC code. message is
// the status message, details the status details as protobuf JSON (each with its "@type"),
// [] when there are none. The HTTP status follows from the code by the standard mapping of
// google.rpc.Code (HTTPStatus), so a JSON client and a gRPC client see the same error.
//
//	httperr.Write(w, status.Convert(err))
package httperr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// Body is the JSON error body.
type Body struct {
	// Code is the canonical name of the gRPC code, such as "NOT_FOUND" (CodeName).
	Code    string `json:"code"`
	Message string `json:"message"`
	// Details are the status details in protobuf JSON; never null.
	Details []json.RawMessage `json:"details"`
}

// names are google.rpc.Code's enum names, indexed by code.
var names = [...]string{
	codes.OK:                 "OK",
	codes.Canceled:           "CANCELLED",
	codes.Unknown:            "UNKNOWN",
	codes.InvalidArgument:    "INVALID_ARGUMENT",
	codes.DeadlineExceeded:   "DEADLINE_EXCEEDED",
	codes.NotFound:           "NOT_FOUND",
	codes.AlreadyExists:      "ALREADY_EXISTS",
	codes.PermissionDenied:   "PERMISSION_DENIED",
	codes.ResourceExhausted:  "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION",
	codes.Aborted:            "ABORTED",
	codes.OutOfRange:         "OUT_OF_RANGE",
	codes.Unimplemented:      "UNIMPLEMENTED",
	codes.Internal:           "INTERNAL",
	codes.Unavailable:        "UNAVAILABLE",
	codes.DataLoss:           "DATA_LOSS",
	codes.Unauthenticated:    "UNAUTHENTICATED",
}

// CodeName returns the canonical name of c ("INVALID_ARGUMENT"); a code outside the
// standard ones is named by its number ("CODE_42").
func CodeName(c codes.Code) string {
	if int(c) < len(names) {
		return names[c]
	}
	return fmt.Sprintf("CODE_%d", uint32(c))
}

// HTTPStatus maps a gRPC code to its HTTP status as google.rpc.Code documents it (and
// grpc-gateway does): 499 for CANCELLED, 500 for codes without a closer match.
func HTTPStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499 // Client Closed Request: no constant in net/http
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// New returns the body of st. A detail whose type this binary does not know is shown by
// its "@type" alone.
func New(st *status.Status) Body {
	b := Body{Code: CodeName(st.Code()), Message: st.Message(), Details: []json.RawMessage{}}
	for _, d := range st.Proto().GetDetails() {
		raw, err := protojson.Marshal(d)
		if err != nil {
			raw, _ = json.Marshal(map[string]string{"@type": d.GetTypeUrl()})
		}
		b.Details = append(b.Details, json.RawMessage(raw))
	}
	return b
}

// Write answers st with HTTPStatus(st.Code()) and its body.
func Write(w http.ResponseWriter, st *status.Status) {
	WriteHTTP(w, HTTPStatus(st.Code()), st)
}

// WriteHTTP answers st with an HTTP status of the caller's choice, for the answers HTTP
// has a status of its own for, such as 405 Method Not Allowed.
func WriteHTTP(w http.ResponseWriter, httpStatus int, st *status.Status) {
	body, err := json.Marshal(New(st))
	if err != nil { // RawMessages from protojson are valid JSON: not reached
		body = []byte(`{"code":"INTERNAL","message":"error body not encodable","details":[]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(append(body, '\n'))
}

// Mux serves mux, answering the requests no pattern of it matches with the JSON body
// instead of ServeMux's plain text: 404 NOT_FOUND, and 405 UNIMPLEMENTED with the Allow
// header ServeMux computed.
func Mux(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r) // sets r.Pattern and the path values h reads
			return
		}
		// No pattern: let ServeMux decide between a redirect, 404 and 405, then translate.
		rec := &recorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch rec.code {
		case http.StatusNotFound:
			Write(w, status.Newf(codes.NotFound, "no route for %s %s", r.Method, r.URL.Path))
		case http.StatusMethodNotAllowed:
			if allow := rec.header.Get("Allow"); allow != "" {
				w.Header().Set("Allow", allow)
			}
			WriteHTTP(w, http.StatusMethodNotAllowed, status.Newf(codes.Unimplemented,
				"method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, rec.header.Get("Allow")))
		default:
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.code)
			_, _ = w.Write(rec.body.Bytes())
		}
	})
}

// recorder keeps what ServeMux's own error and redirect handlers write.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}

package transcode_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tianshu-go/tianshu/rest/transcode"
	"github.com/tianshu-go/tianshu/rest/transcode/internal/testpb"
)

const serviceName = "tianshu.transcode.test.Bookstore"

// bookstore answers every method with a fixed, fully populated book and keeps the last
// request it was given, so that a test sees what the transcoder decoded.
type bookstore struct {
	testpb.UnimplementedBookstoreServer
	mu   sync.Mutex
	last proto.Message
	md   metadata.MD
	// fail, when set, is returned by every method.
	fail error
	// block makes GetBook wait for its context to end.
	block bool
}

func (s *bookstore) keep(ctx context.Context, req proto.Message) error {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last, s.md = proto.Clone(req), md
	return s.fail
}

func (s *bookstore) lastRequest() (proto.Message, metadata.MD) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.md
}

func fixtureBook(name string) *testpb.Book {
	extra, _ := structpb.NewStruct(map[string]any{"signed": true, "copies": 3.0, "notes": []any{"a", nil}})
	note, _ := anypb.New(&testpb.Author{Name: "Ursula", Born: 1929})
	return &testpb.Book{
		Name:      name,
		Title:     "The Dispossessed",
		Author:    &testpb.Author{Name: "Ursula K. Le Guin", Born: 1929},
		Tags:      []string{"sf", "utopia"},
		Genre:     testpb.Genre_GENRE_FICTION,
		Pages:     387,
		Price:     9.5,
		InPrint:   true,
		Cover:     []byte{0xff, 0x00, 0x10},
		Published: timestamppb.New(time.Date(1974, 5, 1, 12, 0, 0, 500, time.UTC)),
		ReadTime:  durationpb.New(90*time.Minute + 3*time.Millisecond),
		Extra:     extra,
		Subtitle:  wrapperspb.String("An Ambiguous Utopia"),
		Ratings:   map[string]int32{"goodreads": 4, "amazon": 5},
		Format:    &testpb.Book_Isbn{Isbn: "978-0-06-051275-0"},
		Note:      note,
	}
}

func (s *bookstore) GetBook(ctx context.Context, r *testpb.GetBookRequest) (*testpb.Book, error) {
	if err := s.keep(ctx, r); err != nil {
		return nil, err
	}
	if s.block {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if err := grpc.SetHeader(ctx, metadata.Pairs("x-served-by", "bookstore")); err != nil {
		return nil, err
	}
	return fixtureBook(r.GetName()), nil
}

func (s *bookstore) ListBooks(ctx context.Context, r *testpb.ListBooksRequest) (*testpb.ListBooksResponse, error) {
	if err := s.keep(ctx, r); err != nil {
		return nil, err
	}
	return &testpb.ListBooksResponse{Books: []*testpb.Book{fixtureBook(r.GetParent() + "/books/1"), {}}}, nil
}

func (s *bookstore) CreateBook(ctx context.Context, r *testpb.CreateBookRequest) (*testpb.Book, error) {
	if err := s.keep(ctx, r); err != nil {
		return nil, err
	}
	return r.GetBook(), nil
}

func (s *bookstore) UpdateBook(ctx context.Context, r *testpb.UpdateBookRequest) (*testpb.Book, error) {
	if err := s.keep(ctx, r); err != nil {
		return nil, err
	}
	return r.GetBook(), nil
}

func (s *bookstore) DeleteBook(ctx context.Context, r *testpb.DeleteBookRequest) (*emptypb.Empty, error) {
	if err := s.keep(ctx, r); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *bookstore) GetFile(ctx context.Context, r *testpb.GetFileRequest) (*testpb.File, error) {
	if err := s.keep(ctx, r); err != nil {
		return nil, err
	}
	return &testpb.File{Shelf: r.GetShelf(), Path: r.GetPath(), Size: 42}, nil
}

func (s *bookstore) GetBookAuthor(ctx context.Context, r *testpb.GetBookRequest) (*testpb.Book, error) {
	if err := s.keep(ctx, r); err != nil {
		return nil, err
	}
	return fixtureBook(r.GetName()), nil
}

func (s *bookstore) GetBookTitle(ctx context.Context, r *testpb.GetBookRequest) (*testpb.Book, error) {
	if err := s.keep(ctx, r); err != nil {
		return nil, err
	}
	return fixtureBook(r.GetName()), nil
}

func (s *bookstore) SearchBooks(ctx context.Context, r *testpb.ListBooksRequest) (*testpb.ListBooksResponse, error) {
	if err := s.keep(ctx, r); err != nil {
		return nil, err
	}
	return &testpb.ListBooksResponse{NextPageToken: "next"}, nil
}

func (s *bookstore) TagBook(ctx context.Context, r *testpb.TagBookRequest) (*testpb.Book, error) {
	if err := s.keep(ctx, r); err != nil {
		return nil, err
	}
	return &testpb.Book{Name: r.GetName(), Tags: r.GetTags()}, nil
}

func (s *bookstore) StreamBooks(r *testpb.ListBooksRequest, stream grpc.ServerStreamingServer[testpb.Book]) error {
	if err := s.keep(stream.Context(), r); err != nil {
		return err
	}
	for i := range max(1, int(r.GetPageSize())) {
		if err := stream.Send(&testpb.Book{Name: r.GetParent(), Pages: int64(i)}); err != nil {
			return err
		}
	}
	if r.GetPageToken() == "fail" {
		return status.Error(codes.DataLoss, "shelf burnt down")
	}
	return nil
}

// backends are the two ways a test serves the bookstore: ours and grpc-gateway's, both
// in process or both through a gRPC connection.
type backends struct {
	impl    *bookstore
	ours    http.Handler
	gateway http.Handler
}

// startGRPC serves impl on a loopback port and returns a connection to it.
func startGRPC(t testing.TB, impl testpb.BookstoreServer) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	testpb.RegisterBookstoreServer(srv, impl)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
	})
	return conn
}

// newBackends builds both handlers; mode is "local" or "remote".
func newBackends(t testing.TB, mode string, emitUnpopulated bool, opts ...transcode.Option) *backends {
	t.Helper()
	impl := &bookstore{}
	marshaler := &runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: emitUnpopulated},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
	}
	gw := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, marshaler))
	if emitUnpopulated {
		opts = append(opts, transcode.WithEmitUnpopulated())
	}
	switch mode {
	case "local":
		opts = append(opts, transcode.Local(&testpb.Bookstore_ServiceDesc, impl))
		if err := testpb.RegisterBookstoreHandlerServer(context.Background(), gw, impl); err != nil {
			t.Fatal(err)
		}
	case "remote":
		conn := startGRPC(t, impl)
		opts = append(opts, transcode.Remote(conn, serviceName))
		if err := testpb.RegisterBookstoreHandler(context.Background(), gw, conn); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("mode %q", mode)
	}
	h, err := transcode.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &backends{impl: impl, ours: h, gateway: gw}
}

type answer struct {
	code   int
	header http.Header
	body   string
}

func serve(h http.Handler, method, target, body string, header ...string) answer {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return answer{code: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

// sameJSON reports whether a and b hold the same JSON values, whatever their whitespace
// (protojson varies it on purpose) and key order.
func sameJSON(t testing.TB, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, a)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

func fixtureStruct(js string) *structpb.Struct {
	s := &structpb.Struct{}
	if err := protojson.Unmarshal([]byte(js), s); err != nil {
		panic(err)
	}
	return s
}

func splitLines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 6455 names SHA-1 for the handshake's accept value
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/internal/testpb"
)

// The tests hold WebSocket connections open through the gateway with the few parts of
// RFC 6455 they need, written here rather than taken as a dependency: the opening
// handshake, unfragmented frames (masked from the client, as the RFC requires), ping and
// the close exchange.

// wsGUID is RFC 6455's constant for the handshake's Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Frame opcodes of RFC 6455 §5.2.
const (
	wsText  = 0x1
	wsClose = 0x8
	wsPing  = 0x9
	wsPong  = 0xA
)

// wsMaxFrame bounds what a test reads in one frame.
const wsMaxFrame = 1 << 20

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID)) //nolint:gosec // see the import
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsWrite writes payload as one final frame, masked with a fresh key when mask is set (a
// client's frames must be, a server's must not).
func wsWrite(w io.Writer, op byte, payload []byte, mask bool) error {
	buf := make([]byte, 2, 14+len(payload))
	buf[0] = 0x80 | op
	var bit byte
	if mask {
		bit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		buf[1] = bit | byte(n)
	case n <= 0xFFFF:
		buf[1] = bit | 126
		buf = binary.BigEndian.AppendUint16(buf, uint16(n))
	default:
		buf[1] = bit | 127
		buf = binary.BigEndian.AppendUint64(buf, uint64(n))
	}
	if !mask {
		_, err := w.Write(append(buf, payload...))
		return err
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	buf = append(buf, key[:]...)
	for i, b := range payload {
		buf = append(buf, b^key[i%4])
	}
	_, err := w.Write(buf)
	return err
}

// wsRead reads one frame and unmasks it. The tests never fragment a message, so a frame
// without FIN is an error, as is one over wsMaxFrame.
func wsRead(r *bufio.Reader) (op byte, payload []byte, masked bool, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, nil, false, err
	}
	if h[0]&0x80 == 0 {
		return 0, nil, false, errors.New("websocket: a fragmented frame")
	}
	op, masked = h[0]&0x0F, h[1]&0x80 != 0
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return 0, nil, false, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return 0, nil, false, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > wsMaxFrame {
		return 0, nil, false, fmt.Errorf("websocket: a frame of %d bytes", n)
	}
	var key [4]byte
	if masked {
		if _, err = io.ReadFull(r, key[:]); err != nil {
			return 0, nil, false, err
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return 0, nil, false, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return op, payload, masked, nil
}

// startWSEcho serves WebSocket connections that echo every data frame, answer pings, and
// return the close frame; it returns the server's URL.
func startWSEcho(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Sec-WebSocket-Key")
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || key == "" {
			http.Error(w, "want a WebSocket handshake", http.StatusBadRequest)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", wsAccept(key))
		if brw.Flush() != nil {
			return
		}
		for {
			op, p, masked, err := wsRead(brw.Reader)
			if err != nil || !masked {
				return // RFC 6455 §5.1: a server closes on an unmasked frame
			}
			switch op {
			case wsClose:
				_ = wsWrite(c, wsClose, p, false)
				return
			case wsPong:
				continue
			case wsPing:
				op = wsPong
			}
			if wsWrite(c, op, p, false) != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// wsConn is the client side of a test's WebSocket connection.
type wsConn struct {
	c  net.Conn
	br *bufio.Reader
}

// wsDial opens a WebSocket connection to path through the server at base.
func wsDial(base, path string) (*wsConn, error) {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 10*time.Second)
	if err != nil {
		return nil, err
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, key)
	br := bufio.NewReader(c)
	var resp *http.Response
	if err == nil {
		resp, err = http.ReadResponse(br, nil)
	}
	if err == nil && (resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key)) {
		err = fmt.Errorf("websocket handshake: %s, accept %q", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return &wsConn{c: c, br: br}, nil
}

// echo sends msg and reads its echo within timeout.
func (w *wsConn) echo(msg []byte, timeout time.Duration) error {
	_ = w.c.SetDeadline(time.Now().Add(timeout))
	if err := wsWrite(w.c, wsText, msg, true); err != nil {
		return err
	}
	op, p, masked, err := wsRead(w.br)
	switch {
	case err != nil:
		return err
	case op != wsText || masked || !bytes.Equal(p, msg):
		return fmt.Errorf("websocket: sent %q, got opcode %d masked %v %q", msg, op, masked, p)
	}
	return nil
}

// waitClosed reads until the connection ends and reports whether it did within timeout.
func (w *wsConn) waitClosed(timeout time.Duration) error {
	_ = w.c.SetReadDeadline(time.Now().Add(timeout))
	for {
		if _, _, _, err := wsRead(w.br); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("websocket connection still open after %v", timeout)
			}
			return nil
		}
	}
}

// close ends the connection with the close exchange, as a client should.
func (w *wsConn) close() {
	_ = w.c.SetDeadline(time.Now().Add(5 * time.Second))
	if wsWrite(w.c, wsClose, []byte{0x03, 0xE8}, true) == nil {
		for {
			if op, _, _, err := wsRead(w.br); err != nil || op == wsClose {
				break
			}
		}
	}
	_ = w.c.Close()
}

// streamMethod is a bidirectional stream that echoes each message, registered by hand
// beside internal/testpb's unary Echo, on the same messages.
const streamMethod = "/tianshu.test.Stream/Echo"

var streamDesc = grpc.StreamDesc{StreamName: "Echo", ServerStreams: true, ClientStreams: true}

// startGRPCStream serves streamMethod on a loopback port and returns the port.
func startGRPCStream(t testing.TB) int {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	desc := streamDesc
	desc.Handler = func(_ any, ss grpc.ServerStream) error {
		for {
			var in testpb.EchoRequest
			if err := ss.RecvMsg(&in); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if err := ss.SendMsg(&testpb.EchoReply{Payload: in.Payload, ServedBy: "stream"}); err != nil {
				return err
			}
		}
	}
	s.RegisterService(&grpc.ServiceDesc{ServiceName: "tianshu.test.Stream", HandlerType: (*any)(nil), Streams: []grpc.StreamDesc{desc}}, struct{}{})
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().(*net.TCPAddr).Port
}

// grpcConn is a client connection to the gateway at base, closed when the test ends.
func grpcConn(t testing.TB, base string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(base, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// echoStream is an open streamMethod call.
type echoStream struct {
	cs     grpc.ClientStream
	cancel context.CancelFunc
}

func openStream(conn *grpc.ClientConn) (*echoStream, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cs, err := conn.NewStream(ctx, &streamDesc, streamMethod)
	if err != nil {
		cancel()
		return nil, err
	}
	return &echoStream{cs: cs, cancel: cancel}, nil
}

// echo sends msg on the stream and reads its echo.
func (s *echoStream) echo(msg []byte) error {
	if err := s.cs.SendMsg(&testpb.EchoRequest{Payload: msg}); err != nil {
		// The reason is in RecvMsg's error.
		var out testpb.EchoReply
		return fmt.Errorf("send: %w; the stream's status: %v", err, s.cs.RecvMsg(&out))
	}
	var out testpb.EchoReply
	if err := s.cs.RecvMsg(&out); err != nil {
		return err
	}
	if !bytes.Equal(out.Payload, msg) {
		return fmt.Errorf("stream: sent %q, got %q", msg, out.Payload)
	}
	return nil
}

// endStatus is the status the stream ended with, once it has.
func (s *echoStream) endStatus() *status.Status {
	var out testpb.EchoReply
	return status.Convert(s.cs.RecvMsg(&out))
}

// finish ends the stream from the client side, as a client done with it does.
func (s *echoStream) finish() {
	_ = s.cs.CloseSend()
	var out testpb.EchoReply
	for s.cs.RecvMsg(&out) == nil {
	}
	s.cancel()
}

package rest

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// http2Preface is what every HTTP/2 client sends first on a connection, gRPC clients over
// plaintext included.
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// sniffTimeout bounds how long a connection may take to send the bytes that tell which
// server it is for; the same bound as DefaultReadHeaderTimeout.
const sniffTimeout = DefaultReadHeaderTimeout

// SharedPort splits one plaintext listener between a gRPC server and an HTTP server by the
// first bytes of each connection: one that opens with the HTTP/2 client preface goes to
// GRPC, any other to HTTP. Both servers keep their own transport, so gRPC runs at the speed
// of a port of its own (BenchmarkOnePort), which serving it through WithGRPC does not.
//
//	port := rest.SharePort(lis)
//	web, err := rest.NewServer("", mux, rest.WithListener(port.HTTP()), ...)
//	app := tianshu.New(tianshu.WithListener(grpcSrv, port.GRPC()), tianshu.WithComponent(web))
//
// Each server registers its own instance (a grpc and an http endpoint on the same port) and
// leaves in Tianshu's order; the shared listener closes when both halves are closed.
//
// What it cannot do: an HTTP client speaking HTTP/2 without TLS (h2c) opens with the same
// preface and reaches the gRPC server, so HTTP on a shared port is HTTP/1.1; and it shares
// a plaintext port only, since under TLS both kinds of client speak h2 after the handshake
// (terminate TLS in front of it, or use WithGRPC).
type SharedPort struct {
	lis        net.Listener
	grpc, http *portHalf
	wg         sync.WaitGroup
	mu         sync.Mutex
	open       int                   // halves not yet closed
	sniffing   map[net.Conn]struct{} // connections whose first bytes are awaited
}

// SharePort starts splitting lis; see SharedPort.
func SharePort(lis net.Listener) *SharedPort {
	p := &SharedPort{lis: lis, open: 2, sniffing: map[net.Conn]struct{}{}}
	p.grpc, p.http = newPortHalf(p), newPortHalf(p)
	p.wg.Go(p.accept)
	return p
}

// GRPC returns the listener of connections that open with the HTTP/2 preface, for
// rpc.Server.Serve (through tianshu.WithListener).
func (p *SharedPort) GRPC() net.Listener { return p.grpc }

// HTTP returns the listener of every other connection, for rest.WithListener.
func (p *SharedPort) HTTP() net.Listener { return p.http }

func (p *SharedPort) accept() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			p.grpc.fail(err)
			p.http.fail(err)
			return
		}
		// Each connection is read on its own goroutine, so that one that sends nothing
		// delays nobody else.
		p.wg.Go(func() { p.route(c) })
	}
}

// route reads as many bytes as it takes to tell the preface from anything else: one, for an
// HTTP/1.x request line.
func (p *SharedPort) route(c net.Conn) {
	p.mu.Lock()
	if p.open == 0 {
		p.mu.Unlock()
		_ = c.Close()
		return
	}
	p.sniffing[c] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.sniffing, c)
		p.mu.Unlock()
	}()
	br := bufio.NewReaderSize(c, 4096)
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	to := p.grpc
	for k := 1; k <= len(http2Preface); k++ {
		b, err := br.Peek(k)
		if err != nil {
			_ = c.Close()
			return
		}
		if b[k-1] != http2Preface[k-1] {
			to = p.http
			break
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	to.put(&sniffedConn{Conn: c, r: br})
}

// halfClosed closes the shared listener once both halves are closed, with the connections
// still being sniffed, and waits for its goroutines.
func (p *SharedPort) halfClosed() {
	p.mu.Lock()
	p.open--
	last := p.open == 0
	var pending []net.Conn
	if last {
		for c := range p.sniffing {
			pending = append(pending, c)
		}
	}
	p.mu.Unlock()
	if !last {
		return
	}
	_ = p.lis.Close()
	for _, c := range pending {
		_ = c.Close()
	}
	p.wg.Wait()
}

// sniffedConn reads the bytes its router peeked before the rest of the connection.
type sniffedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *sniffedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// portHalf is one server's side of a SharedPort.
type portHalf struct {
	port     *SharedPort
	conns    chan net.Conn
	closed   chan struct{}
	stopOnce sync.Once
	mu       sync.Mutex
	err      error // of the shared listener's Accept, once it failed
	closing  bool  // Close was called
}

func newPortHalf(p *SharedPort) *portHalf {
	return &portHalf{port: p, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (h *portHalf) put(c net.Conn) {
	select {
	case h.conns <- c:
	case <-h.closed:
		_ = c.Close()
	}
}

func (h *portHalf) stop() { h.stopOnce.Do(func() { close(h.closed) }) }

// fail ends Accept with the shared listener's error.
func (h *portHalf) fail(err error) {
	h.mu.Lock()
	h.err = err
	h.mu.Unlock()
	h.stop()
}

// Accept returns the next connection for this half: net.ErrClosed once it is closed, or
// the shared listener's error if that failed first.
func (h *portHalf) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.closed:
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.err != nil && !h.closing {
			return nil, h.err
		}
		return nil, net.ErrClosed
	}
}

// Close stops this half; the shared listener closes with the second half.
func (h *portHalf) Close() error {
	h.mu.Lock()
	again := h.closing
	h.closing = true
	h.mu.Unlock()
	if again {
		return nil
	}
	h.stop()
	h.port.halfClosed()
	return nil
}

// Addr returns the shared listener's address.
func (h *portHalf) Addr() net.Addr { return h.port.lis.Addr() }

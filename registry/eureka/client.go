package eureka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

// maxBody bounds a response body read into memory: a full registry of 10,000 instances is
// about 15 MiB of JSON.
const maxBody = 64 << 20

// client sends Eureka REST requests to a list of servers, starting with the one that
// answered last and moving on to the next when one cannot be reached, times out or answers
// 5xx, as Eureka's own clients fail over between the URLs of their zone.
type client struct {
	servers  []string
	hc       *http.Client
	own      bool // hc is ours: Close closes its idle connections
	user     string
	password string
	timeout  time.Duration
	log      *slog.Logger

	cur     atomic.Int32 // index in servers of the one that answered last
	healthy atomic.Bool  // the last request got an answer from a server

	mu       sync.Mutex
	lastFail string // the last server failure logged, so that a long outage logs once
}

func newClient(servers []string, o *options) *client {
	c := &client{servers: servers, hc: o.client, user: o.username, password: o.password, timeout: o.timeout, log: o.log}
	if c.hc == nil {
		// A transport of our own: Close can close its idle connections, and the goroutines
		// reading them with it.
		c.hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		c.own = true
	}
	return c
}

// response is a server's answer to a request.
type response struct {
	status int
	body   []byte
	server string
}

// do sends the request to each server in turn until one answers with a status other than
// 5xx; that answer is returned whatever its status. When none does, the error wraps
// registry.ErrUnavailable, or ctx's error when ctx ended first.
func (c *client) do(ctx context.Context, method, path string, body []byte) (response, error) {
	start := int(c.cur.Load())
	var errs []error
	for i := range c.servers {
		idx := (start + i) % len(c.servers)
		resp, err := c.once(ctx, c.servers[idx], method, path, body)
		if err == nil && resp.status < 500 {
			c.cur.Store(int32(idx))
			c.healthy.Store(true)
			c.recovered()
			return resp, nil
		}
		if err == nil {
			err = fmt.Errorf("%s %s%s: %d %s", method, c.servers[idx], path, resp.status, bytes.TrimSpace(clip(resp.body)))
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	c.healthy.Store(false)
	err := errors.Join(errs...)
	c.failed(err)
	if ctx.Err() != nil {
		return response{}, fmt.Errorf("%w: %w (%w)", registry.ErrUnavailable, ctx.Err(), err)
	}
	return response{}, fmt.Errorf("%w: no Eureka server answered: %w", registry.ErrUnavailable, err)
}

func (c *client) once(ctx context.Context, server, method, path string, body []byte) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, server+path, rd)
	if err != nil {
		return response{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return response{}, fmt.Errorf("%s %s%s: read the answer: %w", method, server, path, err)
	}
	if len(b) > maxBody {
		return response{}, fmt.Errorf("%w: %s %s%s: answer longer than %d bytes", ErrBadResponse, method, server, path, maxBody)
	}
	return response{status: resp.StatusCode, body: b, server: server}, nil
}

// failed logs a failure of every server, once until a request succeeds again.
func (c *client) failed(err error) {
	c.mu.Lock()
	first := c.lastFail == ""
	c.lastFail = err.Error()
	c.mu.Unlock()
	if first {
		c.log.Warn("eureka: no server answers; retrying", "servers", c.servers, "err", err)
	}
}

func (c *client) recovered() {
	c.mu.Lock()
	was := c.lastFail
	c.lastFail = ""
	c.mu.Unlock()
	if was != "" {
		c.log.Info("eureka: a server answers again", "server", c.servers[c.cur.Load()])
	}
}

// statusError turns an unexpected status into an error: ErrAuth for 401 and 403,
// ErrRejected for the rest.
func statusError(what string, r response) error {
	sentinel := ErrRejected
	if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
		sentinel = ErrAuth
	}
	return fmt.Errorf("%w: %s: %s answered %d %s", sentinel, what, r.server, r.status, bytes.TrimSpace(clip(r.body)))
}

// clip shortens a body quoted in an error.
func clip(b []byte) []byte {
	if len(b) > 200 {
		return append(b[:200:200], "..."...)
	}
	return b
}

func (c *client) close() {
	if c.own {
		c.hc.CloseIdleConnections()
	}
}

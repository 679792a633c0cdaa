package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/tianshu-go/tianshu/examples/shop/internal/api"
	"github.com/tianshu-go/tianshu/rpc/httperr"
)

// answer is what the front door said to one order.
type answer struct {
	at    time.Time
	code  int // 0 when the request did not get an answer
	order api.Order
	api   string // the API instance that answered (api.ServedByHeader), if one did
	err   string
}

func (a answer) placed() bool { return a.code == http.StatusCreated || a.code == http.StatusAccepted }
func (a answer) failed() bool { return a.code == 0 || a.code >= 500 }

// traffic sends orders to the front doors at a steady rate and keeps the latest answers, which
// the tour judges its steps by.
type traffic struct {
	url    string
	client *http.Client

	mu      sync.Mutex
	answers []answer
}

// keepAnswers bounds the memory of a long-running demo.
const keepAnswers = 20000

// run sends rate orders a second until ctx ends, from a fixed pool of workers so that a
// slow shop makes the demo send fewer orders rather than pile up requests.
func (t *traffic) run(ctx context.Context, rate int) {
	if rate <= 0 {
		return
	}
	const workers = 16
	items := [...]string{"tea", "coffee", "cake"}
	ticks := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for n := range ticks {
				t.place(ctx, items[n%len(items)], 1+n%3)
			}
		})
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer func() {
		tick.Stop()
		close(ticks)
		wg.Wait()
	}()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case ticks <- n:
		default: // every worker is busy: skip this order
		}
	}
}

// place sends one order and records the answer.
func (t *traffic) place(ctx context.Context, item string, qty int) answer {
	a := t.post(ctx, item, qty)
	if ctx.Err() != nil && a.code == 0 {
		return a // the demo is stopping; this is not the shop's failure
	}
	t.mu.Lock()
	t.answers = append(t.answers, a)
	if len(t.answers) > keepAnswers {
		t.answers = append(t.answers[:0], t.answers[len(t.answers)-keepAnswers/2:]...)
	}
	t.mu.Unlock()
	return a
}

func (t *traffic) post(ctx context.Context, item string, qty int) answer {
	body, _ := json.Marshal(api.PlaceRequest{Item: item, Quantity: int32(qty)})
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, t.url+"/orders", bytes.NewReader(body))
	if err != nil {
		return answer{at: time.Now(), err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return answer{at: time.Now(), err: err.Error()}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	a := answer{at: time.Now(), code: resp.StatusCode, api: resp.Header.Get(api.ServedByHeader)}
	if a.placed() {
		if err := json.Unmarshal(raw, &a.order); err != nil {
			a.err = fmt.Sprintf("undecodable order: %v", err)
		}
	} else {
		var e httperr.Body
		_ = json.Unmarshal(raw, &e)
		a.err = e.Message
	}
	return a
}

// since returns the answers received at or after from, oldest first.
func (t *traffic) since(from time.Time) []answer {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, a := range t.answers {
		if !a.at.Before(from) {
			return append([]answer(nil), t.answers[i:]...)
		}
	}
	return nil
}

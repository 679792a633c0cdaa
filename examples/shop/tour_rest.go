package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tianshu-go/tianshu/examples/shop/shoppb"
	"github.com/tianshu-go/tianshu/rpc/httperr"
)

// What the REST to gRPC step sends to each front door: the shipped route orders-rest serves
// orders' gRPC methods under /rpc by the google.api.http rules of shop.proto.
const (
	restOrders  = "/rpc/v1/orders"
	restPlace   = `{"item":"cake","quantity":1}`
	unknownItem = "caviar"
	// restList asks for enough of the latest orders to find the one just placed among the
	// traffic's.
	restList = restOrders + "?limit=50"
)

// restReport is what the REST to gRPC step saw, per front door.
type restReport struct {
	Placed map[string]restPlaced
	// Listed is the status of GET restList, and Found whether the order placed through the
	// same front door was among those it listed.
	Listed map[string]int
	Found  map[string]bool
	// Unknown is the answer to an order of unknownItem: the HTTP status and the error body.
	Unknown map[string]restError
}

// restPlaced is the answer to POST restOrders: the status and the Order the method
// returned, decoded from its JSON.
type restPlaced struct {
	Code  int
	Order *shoppb.Order
}

type restError struct {
	Code int
	Body httperr.Body
}

// call sends one request with a JSON body (none when body is empty) and returns the status
// and the answer's body, compacted; code 0 means no answer.
func (t *tour) call(ctx context.Context, method, url, body string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.obs.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	// protojson varies its spacing on purpose; the tour prints one line per answer.
	var out bytes.Buffer
	if json.Compact(&out, raw) != nil {
		return resp.StatusCode, raw, nil
	}
	return resp.StatusCode, out.Bytes(), nil
}

// rest calls orders' gRPC methods as REST through each front door's transcode route: it
// places an order, finds it in the latest orders, and orders an unknown item, whose gRPC
// NOT_FOUND comes back as 404 in the project's JSON error body.
func (t *tour) rest(ctx context.Context) (string, error) {
	fronts := t.obs.gatewayURLs(ctx)
	if len(fronts) == 0 {
		return "", fmt.Errorf("the registry lists no front door")
	}
	r := &t.rep.REST
	r.Placed, r.Listed, r.Found, r.Unknown = map[string]restPlaced{}, map[string]int{}, map[string]bool{}, map[string]restError{}
	var served []string
	for _, id := range slices.Sorted(maps.Keys(fronts)) {
		u := fronts[id]
		code, body, err := t.call(ctx, http.MethodPost, u+restOrders, restPlace)
		if err != nil {
			return "", fmt.Errorf("POST %s on %s: %w", restOrders, id, err)
		}
		t.pr.say("   %s: POST %s %s -> %d %s", id, restOrders, restPlace, code, body)
		p := restPlaced{Code: code}
		if code == http.StatusOK {
			p.Order = &shoppb.Order{}
			if err := protojson.Unmarshal(body, p.Order); err != nil {
				return "", fmt.Errorf("POST %s on %s: the reply is not an Order: %w", restOrders, id, err)
			}
		}
		r.Placed[id] = p
		if p.Order == nil {
			return "", fmt.Errorf("POST %s on %s answered %d %s, want 200 and the order", restOrders, id, code, body)
		}
		served = append(served, fmt.Sprintf("%s by %s, %s and %s (via %s)", p.Order.Id,
			p.Order.OrdersInstance, p.Order.InventoryInstance, p.Order.PaymentInstance, id))

		code, body, err = t.call(ctx, http.MethodGet, u+restList, "")
		if err != nil {
			return "", fmt.Errorf("GET %s on %s: %w", restList, id, err)
		}
		r.Listed[id] = code
		var list shoppb.ListOrdersReply
		if code == http.StatusOK && protojson.Unmarshal(body, &list) == nil {
			for _, o := range list.Orders {
				if o.Id == p.Order.Id {
					r.Found[id] = true
				}
			}
		}
		t.pr.say("   %s: GET %s -> %d, %d orders, %s among them: %v", id, restList, code, len(list.Orders), p.Order.Id, r.Found[id])

		unknown := fmt.Sprintf(`{"item":%q,"quantity":1}`, unknownItem)
		code, body, err = t.call(ctx, http.MethodPost, u+restOrders, unknown)
		if err != nil {
			return "", fmt.Errorf("POST %s on %s: %w", restOrders, id, err)
		}
		e := restError{Code: code}
		_ = json.Unmarshal(body, &e.Body)
		r.Unknown[id] = e
		t.pr.say("   %s: POST %s %s -> %d %s", id, restOrders, unknown, code, body)
	}
	for id := range fronts {
		if r.Listed[id] != http.StatusOK || !r.Found[id] {
			return "", fmt.Errorf("GET %s on %s answered %d without the order just placed", restList, id, r.Listed[id])
		}
		if e := r.Unknown[id]; e.Code != http.StatusNotFound || e.Body.Code != "NOT_FOUND" {
			return "", fmt.Errorf("an order of %s on %s answered %d %q, want 404 NOT_FOUND", unknownItem, id, e.Code, e.Body.Code)
		}
	}
	e := r.Unknown[slices.Min(slices.Collect(maps.Keys(fronts)))]
	return fmt.Sprintf("REST to gRPC through every front door: orders %s, each found by GET %s; %s: %d %s %q",
		strings.Join(served, ", "), restOrders, unknownItem, e.Code, e.Body.Code, e.Body.Message), nil
}

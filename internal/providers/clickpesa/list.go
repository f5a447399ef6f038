package clickpesa

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/internal/wire"
)

// EAT is East Africa Time (UTC+3), in which ClickPesa's list endpoints
// read startDate and endDate.
var EAT = time.FixedZone("EAT", 3*60*60)

// DefaultPageSize is the page ListPayments asks for when told nothing.
const DefaultPageSize = 100

// ListOptions select a window of ClickPesa's records.
type ListOptions struct {
	// From and To bound createdAt: [From, To). ClickPesa filters by
	// calendar dates whose time zone and inclusivity it does not document,
	// so the dates sent cover one more day on each side and the items
	// outside the window are dropped here.
	From, To time.Time
	// Skip is where to start (a checkpoint's Next).
	Skip int
	// PageSize is the limit asked for (default DefaultPageSize); the
	// provider may answer with fewer, and the next page starts after what
	// it answered.
	PageSize int
}

// ListPage is one page of ClickPesa's list.
type ListPage struct {
	// Items are the page's payments created within the window, in
	// creation order.
	Items []Payment
	// Read is how many items the provider answered (in the window or not).
	Read int
	// Next is the skip of the next page; Done says there is none.
	Next int
	Done bool
	// TotalCount is the provider's count of its records for the dates sent.
	TotalCount int
}

// listDates are the startDate and endDate covering [from, to) with a day
// more on each side.
func listDates(from, to time.Time) (string, string) {
	return from.In(EAT).AddDate(0, 0, -1).Format("2006-01-02"), to.In(EAT).AddDate(0, 0, 1).Format("2006-01-02")
}

// ListPayments reads every payment of the window (GET /payments/all,
// oldest first), one page at a time, and calls page for each; memory does
// not grow with the window. A page's transient failure is retried
// (Options.ReadRetries); an error from page stops the listing and is
// returned.
func (c *Client) ListPayments(ctx context.Context, o ListOptions, page func(ListPage) error) error {
	return listWindow(ctx, c, o, "list_payments", "/payments/all", parsePayment,
		func(p Payment) string { return p.CreatedAt },
		func(items []Payment, read, next, total int, done bool) error {
			return page(ListPage{Items: items, Read: read, Next: next, Done: done, TotalCount: total})
		})
}

// PayoutPage is one page of ClickPesa's list of payouts.
type PayoutPage struct {
	// Items are the page's payouts created within the window, in creation
	// order.
	Items []Payout
	// Read, Next, Done and TotalCount are as in ListPage.
	Read       int
	Next       int
	Done       bool
	TotalCount int
}

// ListPayouts reads every payout of the window (GET /payouts/all, oldest
// first), one page at a time, as ListPayments reads payments.
func (c *Client) ListPayouts(ctx context.Context, o ListOptions, page func(PayoutPage) error) error {
	return listWindow(ctx, c, o, "list_payouts", "/payouts/all", parsePayout,
		func(p Payout) string { return p.CreatedAt },
		func(items []Payout, read, next, total int, done bool) error {
			return page(PayoutPage{Items: items, Read: read, Next: next, Done: done, TotalCount: total})
		})
}

func parsePayout(raw json.RawMessage) (Payout, error) {
	var w wirePayout
	if err := json.Unmarshal(raw, &w); err != nil {
		return Payout{}, err
	}
	return w.payout(raw), nil
}

// listWindow pages through one of ClickPesa's list endpoints over o's
// window, oldest first, and hands each page's items created within the
// window to page.
func listWindow[T any](ctx context.Context, c *Client, o ListOptions, op, path string, parse func(json.RawMessage) (T, error),
	created func(T) string, page func(items []T, read, next, total int, done bool) error) error {
	size := o.PageSize
	if size <= 0 {
		size = DefaultPageSize
	}
	start, end := listDates(o.From, o.To)
	skip := o.Skip
	for {
		var (
			items       []T
			read, total int
		)
		err := wire.Retry(ctx, c.retries, c.backoff, func() error {
			var err error
			items, read, total, err = listPage(ctx, c, op, path, start, end, skip, size, parse)
			return err
		})
		if err != nil {
			return err
		}
		kept := items[:0]
		for _, it := range items {
			if at, err := time.Parse(time.RFC3339Nano, created(it)); err != nil || (!at.Before(o.From) && at.Before(o.To)) {
				kept = append(kept, it) // an unreadable date is the caller's to judge
			}
		}
		next := skip + read
		done := read == 0 || next >= total
		if err := page(kept, read, next, total, done); err != nil {
			return err
		}
		if done {
			return nil
		}
		skip = next
	}
}

// listPage makes one attempt at one page.
func listPage[T any](ctx context.Context, c *Client, op, path, start, end string, skip, limit int,
	parse func(json.RawMessage) (T, error)) (items []T, read, total int, err error) {
	began := c.call.Start()
	defer func() { c.call.Observe(op, began, err) }()
	q := url.Values{}
	q.Set("startDate", start)
	q.Set("endDate", end)
	q.Set("sortBy", "createdAt")
	q.Set("orderBy", "ASC")
	q.Set("skip", strconv.Itoa(skip))
	q.Set("limit", strconv.Itoa(limit))
	resp, err := c.do(ctx, op, http.MethodGet, path+"?"+q.Encode(), nil, false)
	if err != nil {
		return nil, 0, 0, err
	}
	if resp.Status/100 != 2 {
		return nil, 0, 0, c.failure(op, false, resp)
	}
	var w struct {
		Data       []json.RawMessage `json:"data"`
		TotalCount wire.Int          `json:"totalCount"`
	}
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		return nil, 0, 0, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "undecodable page", err)
	}
	items = make([]T, 0, len(w.Data))
	for _, raw := range w.Data {
		it, err := parse(raw)
		if err != nil {
			return nil, 0, 0, c.call.Err(opName(op), providers.Retryable, resp.Status, "", "undecodable item", err)
		}
		items = append(items, it)
	}
	return items, len(w.Data), int(w.TotalCount), nil
}

// parsePayment reads one payment of a query or list answer.
func parsePayment(raw json.RawMessage) (Payment, error) {
	var w struct {
		ID                 wire.String  `json:"id"`
		Status             wire.String  `json:"status"`
		PaymentReference   wire.String  `json:"paymentReference"`
		PaymentPhoneNumber wire.String  `json:"paymentPhoneNumber"`
		OrderReference     wire.String  `json:"orderReference"`
		CollectedAmount    wire.String  `json:"collectedAmount"`
		CollectedCurrency  wire.String  `json:"collectedCurrency"`
		Message            wire.String  `json:"message"`
		CreatedAt          wire.String  `json:"createdAt"`
		UpdatedAt          wire.String  `json:"updatedAt"`
		Customer           wireCustomer `json:"customer"`
		ClientID           wire.String  `json:"clientId"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return Payment{}, err
	}
	return Payment{
		ID: string(w.ID), Status: strings.ToUpper(string(w.Status)), PaymentReference: string(w.PaymentReference),
		PaymentPhoneNumber: string(w.PaymentPhoneNumber), OrderReference: string(w.OrderReference),
		CollectedAmount: string(w.CollectedAmount), CollectedCurrency: string(w.CollectedCurrency),
		Message: string(w.Message), CreatedAt: string(w.CreatedAt), UpdatedAt: string(w.UpdatedAt),
		Customer: w.Customer.normalize(), ClientID: string(w.ClientID), Raw: providers.WithoutCredentials(raw),
	}, nil
}

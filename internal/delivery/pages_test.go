package delivery

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/secret"
)

// TestEventsAPIPages: GET /v1/events walks every delivery page by page
// with next_cursor, a delivery added meanwhile does not disturb the walk,
// and a bad or unknown cursor is a 400 naming cursor.
func TestEventsAPIPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var want []string
	for range 5 {
		want = append([]string{e.enqueue("a")}, want...) // newest first
		e.clk.Advance(time.Second)
	}
	mux := http.NewServeMux()
	RegisterAPI(mux, e.st, e.clk.Now, nil)
	auth := httpapi.NewAuthenticator([]httpapi.Token{{Name: "ops", Value: secret.New("ops-token"), Scopes: []string{config.ScopeEvents}}})
	srv := httptest.NewServer(auth.Require(mux))
	t.Cleanup(srv.Close)
	get := func(query string) (int, DeliveryList, httpapi.Problem) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/events"+query, nil)
		req.Header.Set("Authorization", "Bearer ops-token")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var l DeliveryList
		var p httpapi.Problem
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatal(err)
			}
		} else {
			_ = json.Unmarshal(b, &p)
		}
		return resp.StatusCode, l, p
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		q := "?limit=2"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		code, l, _ := get(q)
		if code != http.StatusOK || pages > 5 {
			t.Fatalf("page %d: %d", pages, code)
		}
		for _, d := range l.Deliveries {
			got = append(got, d.EventID)
		}
		if pages == 0 {
			e.enqueue("a") // newer than every page: must not show up
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("walked %v, want %v", got, want)
	}
	for _, q := range []string{"?cursor=nope", "?cursor=" + httpapi.EncodeCursor("dlv_gone")} {
		code, _, p := get(q)
		if code != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != "cursor" {
			t.Errorf("GET /v1/events%s: %d %+v, want 400 naming cursor", q, code, p)
		}
	}
}

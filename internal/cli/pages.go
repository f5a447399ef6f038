package cli

import (
	"errors"
	"fmt"

	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/state"
)

// walkPages reads a list page by page, newest first, as the API's cursor
// pagination does: from the page that cursor (a next_cursor of the API or
// of an earlier -json) names, or the first, limit rows a page. With all it
// follows every next page; otherwise it stops after one. fetch lists up to
// n rows after the row with ID after ("" for the first page); id gives a
// row's ID. It returns the rows and the cursor of the page after them ("" at
// the end).
func walkPages[T any](cursor string, limit int, all bool, what string, fetch func(after string, n int) ([]T, error), id func(T) string) ([]T, string, error) {
	after := ""
	if cursor != "" {
		var err error
		if after, err = httpapi.DecodeCursor(cursor); err != nil {
			return nil, "", fmt.Errorf("-cursor %w", err)
		}
	}
	var out []T
	for {
		rows, err := fetch(after, limit+1) // one more says whether a next page exists
		if errors.Is(err, state.ErrNotFound) && after != "" {
			return nil, "", fmt.Errorf("-cursor names no %s; list again without it", what)
		}
		if err != nil {
			return nil, "", err
		}
		next := ""
		if len(rows) > limit {
			rows = rows[:limit]
			next = httpapi.EncodeCursor(id(rows[len(rows)-1]))
		}
		out = append(out, rows...)
		if next == "" || !all {
			return out, next, nil
		}
		after = id(rows[len(rows)-1])
	}
}

// maxPageLimit bounds -limit of payments list (as the API bounds limit).
const maxPageLimit = 1000

// moreHint tells a person reading a table that more rows follow.
func moreHint(io IO, next string) {
	if next != "" {
		fmt.Fprintf(io.Stderr, "More follow: add -cursor %s for the next page, or -all for every page.\n", next)
	}
}

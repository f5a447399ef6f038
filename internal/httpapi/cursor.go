package httpapi

import (
	"encoding/base64"
	"errors"
	"strings"
)

// cursorPrefix versions the cursor format.
const cursorPrefix = "c1:"

// maxCursor bounds what DecodeCursor accepts.
const maxCursor = 256

// EncodeCursor turns the ID of a list's last row into the opaque cursor
// that asks for the rows after it (the lists' next_cursor).
func EncodeCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + id))
}

// ErrBadCursor is what DecodeCursor returns for a string EncodeCursor did
// not make.
var ErrBadCursor = errors.New("is not a cursor from a previous page's next_cursor")

// DecodeCursor returns the row ID in a cursor made by EncodeCursor.
func DecodeCursor(c string) (string, error) {
	if len(c) > maxCursor {
		return "", ErrBadCursor
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	if err != nil {
		return "", ErrBadCursor
	}
	id, ok := strings.CutPrefix(string(b), cursorPrefix)
	if !ok || id == "" {
		return "", ErrBadCursor
	}
	for _, r := range id {
		if r < 0x21 || r > 0x7e {
			return "", ErrBadCursor
		}
	}
	return id, nil
}

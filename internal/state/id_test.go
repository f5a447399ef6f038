package state

import (
	"regexp"
	"sort"
	"testing"
	"time"
)

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^evt_[a-z2-7]{26}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewID("evt_")
		if !re.MatchString(id) {
			t.Fatalf("NewID = %q, want evt_ + 26 lowercase base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID gave %q twice", id)
		}
		seen[id] = true
	}
}

// TestNewIDSortsByTime: IDs made later sort after, whatever their random
// part, from 1970 to the year 3084.
func TestNewIDSortsByTime(t *testing.T) {
	times := []time.Time{
		time.Unix(0, 0),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, int(time.Millisecond), time.UTC),
		time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC),
		time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Date(3084, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	var ids []string
	for _, tm := range times {
		for range 50 {
			ids = append(ids, newID("dlv_", tm))
		}
	}
	if !sort.SliceIsSorted(ids, func(i, j int) bool { return ids[i][:4+idTimeChars] < ids[j][:4+idTimeChars] }) {
		t.Fatalf("time prefixes out of order: %v", ids)
	}
	for i := 50; i < len(ids); i += 50 {
		for _, a := range ids[i-50 : i] {
			for _, b := range ids[i : i+50] {
				if a >= b {
					t.Fatalf("%s (at %v) sorts after %s (at %v)", a, times[i/50-1], b, times[i/50])
				}
			}
		}
	}
}

package console

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"testing"
)

// TestAllPages: the console reads a paged list until it has the total, and an unpaged one (no
// total) once, however long.
func TestAllPages(t *testing.T) {
	for _, c := range []struct {
		name  string
		items int
		paged bool
		calls int
	}{
		{"unpaged, longer than a page", 150, false, 1},
		{"paged, a page and a half", 150, true, 2},
		{"paged, two full pages", 200, true, 2},
		{"paged, empty", 0, true, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			got, err := allPages[int]("/api/v1/inventory", func(path string, out any) error {
				calls++
				u, err := url.Parse(path)
				if err != nil {
					return err
				}
				page, _ := strconv.Atoi(u.Query().Get("page"))
				size, _ := strconv.Atoi(u.Query().Get("size"))
				body := map[string]any{}
				items := []int{}
				for i := range c.items {
					if !c.paged || (i >= (page-1)*size && i < page*size) {
						items = append(items, i)
					}
				}
				body["items"] = items
				if c.paged {
					body["total"] = c.items
				}
				b, err := json.Marshal(body)
				if err != nil {
					return err
				}
				return json.Unmarshal(b, out)
			})
			if err != nil || len(got) != c.items || calls != c.calls {
				t.Errorf("%d items in %d calls (%v), want %d in %d", len(got), calls, err, c.items, c.calls)
			}
			for i, v := range got {
				if v != i {
					t.Fatalf("item %d is %d: %s", i, v, fmt.Sprint(got[:min(len(got), 5)]))
				}
			}
		})
	}
}

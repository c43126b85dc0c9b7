package httpx

import (
	"strings"
	"testing"
)

func TestCheckJSON(t *testing.T) {
	for _, c := range []struct {
		name, body string
		status     int    // 0: accepted
		field      string // of a validation problem
	}{
		{"plain", `{"a":"b","c":[1,{"d":"e"}]}`, 0, ""},
		{"escapes that are text", `{"a":"tab\/slash \u00e9 \ud83d\ude00"}`, 0, ""},
		{"an escaped quote before a surrogate-looking text", `{"a":"\"\\ud800"}`, 0, ""},
		{"NUL", `{"a":{"b":["x\u0000"]}}`, 400, "a.b[0]"},
		{"a newline", `{"a":"x\ny"}`, 400, "a"},
		{"a control character in a key", `{"a\u0007":1}`, 400, "a\a"},
		{"C1 control", `{"a":"x\u0085"}`, 400, "a"},
		{"not UTF-8", "{\"a\":\"\xff\"}", 400, ""},
		{"lone high surrogate", `{"a":"\ud800x"}`, 400, ""},
		{"lone low surrogate", `{"a":"\udc00"}`, 400, ""},
		{"high surrogate at the end", `{"a":"\ud800"}`, 400, ""},
		{"trailing garbage", `{"a":1} x`, 400, ""},
		{"two values", `{"a":1}{}`, 400, ""},
		{"trailing space", "{\"a\":1}\n ", 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := checkJSON([]byte(c.body))
			switch {
			case c.status == 0 && p != nil:
				t.Fatalf("refused: %+v", *p)
			case c.status == 0:
				return
			case p == nil:
				t.Fatal("accepted")
			case p.Status != c.status:
				t.Fatalf("status %d, want %d", p.Status, c.status)
			}
			var fields []string
			if p.Errors != nil {
				for _, f := range *p.Errors {
					fields = append(fields, f.Field)
				}
			}
			if got := strings.Join(fields, ","); got != c.field {
				t.Errorf("fields %q, want %q", got, c.field)
			}
		})
	}
}

package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/ordersys/ordersys/api"
)

// checkJSON refuses what encoding/json would accept but change or drop: bytes that are not UTF-8
// and escapes of lone surrogates (both decoded as U+FFFD), anything after the first value
// (trailing garbage, or a second object), and control characters in strings, which PostgreSQL
// cannot store (NUL) or nobody means to send. It returns nil for a body fit to decode.
func checkJSON(body []byte) *api.Problem {
	malformed := func(detail string) *api.Problem {
		p := NewProblem(http.StatusBadRequest, TypeMalformed, "The body is not valid JSON", detail)
		return &p
	}
	if !utf8.Valid(body) {
		return malformed("the body is not UTF-8")
	}
	if err := checkSurrogates(body); err != nil {
		return malformed(err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return malformed(err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return malformed("the body holds more than one JSON value")
	}
	var fields []api.FieldError
	walkStrings(v, "", func(path, s string) {
		if slices.ContainsFunc([]rune(s), unicode.IsControl) {
			fields = append(fields, api.FieldError{Field: path, Message: "must not contain control characters"})
		}
	})
	if len(fields) > 0 {
		p := ValidationProblem(fields)
		return &p
	}
	return nil
}

// walkStrings calls fn with the path (items[0].sku, as validation names fields) of every string in
// v, keys included, for which the path is where the key stands.
func walkStrings(v any, path string, fn func(path, s string)) {
	switch v := v.(type) {
	case string:
		fn(path, v)
	case []any:
		for i, e := range v {
			walkStrings(e, path+"["+strconv.Itoa(i)+"]", fn)
		}
	case map[string]any:
		for k, e := range v {
			p := k
			if path != "" {
				p = path + "." + k
			}
			fn(p, k)
			walkStrings(e, p, fn)
		}
	}
}

// checkSurrogates finds a \u escape of a UTF-16 surrogate that is not half of a pair.
func checkSurrogates(body []byte) error {
	inString := false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString:
			if i+1 < len(body) && body[i+1] == 'u' {
				r, ok := hex4(body, i+2)
				switch {
				case ok && r >= 0xD800 && r < 0xDC00:
					low, lowOK := rune(0), false
					if i+7 < len(body) && body[i+6] == '\\' && body[i+7] == 'u' {
						low, lowOK = hex4(body, i+8)
					}
					if !lowOK || low < 0xDC00 || low > 0xDFFF {
						return fmt.Errorf("a lone surrogate \\u%04x at byte %d", r, i)
					}
					i += 11
					continue
				case ok && r >= 0xDC00 && r <= 0xDFFF:
					return fmt.Errorf("a lone surrogate \\u%04x at byte %d", r, i)
				}
			}
			i++ // the escaped character, which may be a quote
		}
	}
	return nil
}

// hex4 reads four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 32)
	return rune(n), err == nil
}

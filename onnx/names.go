package onnx

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseClassNames reads the class names a model carries in its "names"
// metadata property: Ultralytics writes a Python dict repr such as
// "{0: 'scratch', 1: 'dent'}"; a JSON list or object is accepted too. Keys
// must be 0..n-1.
func ParseClassNames(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var names []string
		if err := json.Unmarshal([]byte(s), &names); err != nil {
			return nil, fmt.Errorf("class names %q: not a JSON list of strings: %w", short(s), err)
		}
		return names, nil
	}
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, fmt.Errorf("class names %q: want a dict such as {0: 'scratch'} or a list", short(s))
	}
	byIndex := map[int]string{}
	rest := strings.TrimSpace(s[1 : len(s)-1])
	for rest != "" {
		key, after, err := pyToken(rest)
		if err != nil {
			return nil, fmt.Errorf("class names %q: %w", short(s), err)
		}
		after = strings.TrimSpace(after)
		if !strings.HasPrefix(after, ":") {
			return nil, fmt.Errorf("class names %q: expected ':' after key %q", short(s), key)
		}
		val, after, err := pyToken(strings.TrimSpace(after[1:]))
		if err != nil {
			return nil, fmt.Errorf("class names %q: %w", short(s), err)
		}
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i >= 1<<16 {
			return nil, fmt.Errorf("class names %q: key %q is not a class index", short(s), key)
		}
		if _, dup := byIndex[i]; dup {
			return nil, fmt.Errorf("class names %q: index %d appears twice", short(s), i)
		}
		byIndex[i] = val
		after = strings.TrimSpace(after)
		if after != "" && !strings.HasPrefix(after, ",") {
			return nil, fmt.Errorf("class names %q: expected ',' after %q", short(s), val)
		}
		rest = strings.TrimSpace(strings.TrimPrefix(after, ","))
	}
	names := make([]string, len(byIndex))
	for i := range names {
		v, ok := byIndex[i]
		if !ok {
			return nil, fmt.Errorf("class names %q: index %d is missing (indexes must be 0..%d)", short(s), i, len(names)-1)
		}
		names[i] = v
	}
	return names, nil
}

// pyToken reads a quoted string ('...' or "...", with backslash escapes) or
// a bare token up to ':' or ','.
func pyToken(s string) (tok, rest string, err error) {
	if s == "" {
		return "", "", fmt.Errorf("unexpected end")
	}
	q := s[0]
	if q != '\'' && q != '"' {
		end := strings.IndexAny(s, ":,")
		if end < 0 {
			end = len(s)
		}
		return strings.TrimSpace(s[:end]), s[end:], nil
	}
	var b strings.Builder
	for i := 1; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == rune(q):
			return b.String(), s[i+1:], nil
		case r == '\\' && i+1 < len(s):
			b.WriteByte(s[i+1])
			i += 2
			continue
		}
		b.WriteRune(r)
		i += size
	}
	return "", "", fmt.Errorf("unterminated string")
}

func short(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

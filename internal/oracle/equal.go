package oracle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
)

// maxDiffLines keeps a diff of two wildly different records readable.
const maxDiffLines = 20

// EqualJSON reports whether two §7 JSON records are semantically equal: the
// same keys and values regardless of key order and whitespace, numbers
// compared by exact value (so 10 equals 1e1, but no float rounding is ever
// involved). When they differ, the second result lists the differences, one
// per line, by JSON path.
func EqualJSON(a, b []byte) (bool, string) {
	va, err := decodeAny(a)
	if err != nil {
		return false, fmt.Sprintf("first value: %v", err)
	}
	vb, err := decodeAny(b)
	if err != nil {
		return false, fmt.Sprintf("second value: %v", err)
	}
	var diffs []string
	diffValues("$", va, vb, &diffs)
	if len(diffs) == 0 {
		return true, ""
	}
	if len(diffs) > maxDiffLines {
		more := len(diffs) - maxDiffLines
		diffs = append(diffs[:maxDiffLines], fmt.Sprintf("... and %d more", more))
	}
	return false, strings.Join(diffs, "\n")
}

func decodeAny(b []byte) (any, error) {
	if !json.Valid(b) {
		return nil, fmt.Errorf("not a single valid JSON value: %.200q", b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return v, nil
}

func show(v any) string {
	if v == nil {
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

func diffValues(path string, a, b any, diffs *[]string) {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			p := path + "." + k
			xv, inX := x[k]
			yv, inY := y[k]
			switch {
			case !inX:
				*diffs = append(*diffs, fmt.Sprintf("%s: missing in first, second has %s", p, show(yv)))
			case !inY:
				*diffs = append(*diffs, fmt.Sprintf("%s: first has %s, missing in second", p, show(xv)))
			default:
				diffValues(p, xv, yv, diffs)
			}
		}
		return
	case []any:
		y, ok := b.([]any)
		if !ok {
			break
		}
		if len(x) != len(y) {
			*diffs = append(*diffs, fmt.Sprintf("%s: array length %d vs %d", path, len(x), len(y)))
			return
		}
		for i := range x {
			diffValues(fmt.Sprintf("%s[%d]", path, i), x[i], y[i], diffs)
		}
		return
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			break
		}
		var rx, ry big.Rat
		_, okx := rx.SetString(string(x))
		_, oky := ry.SetString(string(y))
		if okx && oky && rx.Cmp(&ry) == 0 {
			return
		}
		if !okx || !oky {
			// Cannot happen for numbers json.Valid accepted; compare text.
			if x == y {
				return
			}
		}
	default:
		// string, bool, nil
		if a == b {
			return
		}
	}
	*diffs = append(*diffs, fmt.Sprintf("%s: %s vs %s", path, show(a), show(b)))
}

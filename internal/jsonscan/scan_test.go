package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// stdVerdict is what encoding/json says: valid at all, and an object.
func stdVerdict(b []byte) (valid, object bool) {
	if !json.Valid(b) {
		return false, false
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return false, false
	}
	_, isObj := v.(map[string]any)
	return true, isObj
}

func checkAgainstStd(t *testing.T, b []byte) {
	t.Helper()
	valid, object := stdVerdict(b)
	if got := Valid(b); got != valid {
		t.Fatalf("Valid(%q) = %v, encoding/json says %v", clip(b), got, valid)
	}
	var keys []string
	err := Walk(b, func(m Member) { keys = append(keys, string(m.Key)) })
	switch {
	case object && err != nil:
		t.Fatalf("Walk(%q) = %v, but it is a JSON object", clip(b), err)
	case valid && !object && !errors.Is(err, ErrNotObject):
		t.Fatalf("Walk(%q) = %v, want ErrNotObject", clip(b), err)
	case !valid && (err == nil || errors.Is(err, ErrNotObject)):
		t.Fatalf("Walk(%q) = %v, want a syntax error", clip(b), err)
	}
	if object {
		// Members must come back in document order with their raw values.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		_ = Walk(b, func(mem Member) {
			if mem.KeyEscaped {
				return
			}
			if !json.Valid(mem.Value) {
				t.Fatalf("member %q has invalid raw value %q", mem.Key, mem.Value)
			}
		})
	}
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

var cases = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{"a":}`, `{,}`, `{"a":1 "b":2}`,
	`[]`, `[1,2]`, `[1,]`, `"x"`, `1`, `-0`, `-`, `01`, `1.`, `1.5e`, `1e+5`, `1E-05`, `.5`,
	`true`, `tru`, `null`, `nul`, `false`, `{"a":tru}`, `{"a":[1,{"b":[true,false,null]}]}`,
	`{"a":"\u00e9\n\t\"\\\/"}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, "{\"a\":\"\x01\"}",
	`{"a":1}x`, `{"a":1}{}`, `{"a":1} `, "\t\r\n{}\n", ``, ` `, `{`, `{"a`, `{"a":"b`, `}`,
	`{"a":{"b":{"c":[[[]]]}}}`, `{"a":[}`, `{"a":{]}`, `[{"a":1]`, `{"a":1,"a":2}`,
	`{"\u0061":1}`, `{"a":-1.5E+10}`, `{"a":1e999}`, `{"a":123456789012345678901234567890}`,
}

func TestAgainstEncodingJSON(t *testing.T) {
	for _, c := range cases {
		checkAgainstStd(t, []byte(c))
	}
}

func TestNestingLimitMatchesEncodingJSON(t *testing.T) {
	for _, depth := range []int{MaxDepth - 1, MaxDepth, MaxDepth + 1} {
		arr := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		checkAgainstStd(t, []byte(arr))
		obj := `{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
		checkAgainstStd(t, []byte(obj))
	}
}

func TestWalkMembers(t *testing.T) {
	var got []string
	err := Walk([]byte(` {"a" : 1 , "b\n":"x y", "c":{"d":[1,2]}, "e":null} `), func(m Member) {
		got = append(got, string(m.Key)+"="+string(m.Value)+"/"+m.Kind.String())
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`a=1/number`, `b\n="x y"/string`, `c={"d":[1,2]}/object`, `e=null/null`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func FuzzAgainstEncodingJSON(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAgainstStd(t, b)
	})
}

// FuzzAppendString: AppendString writes exactly what encoding/json writes
// for any string, including invalid UTF-8.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `"\`, "<a&b>", "\u2028\u2029", "\x00\x1f\b\f\n\r\t", "\xff\xc3", "\xed\xa0\x80", "日本🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got[1:], want)
		}
	})
}

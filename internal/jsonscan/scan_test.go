package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
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
	// WalkUTF8 is Walk plus a UTF-8 verdict on valid objects.
	errUTF8 := WalkUTF8(b, func(Member) {})
	switch {
	case err == nil && !utf8.Valid(b):
		if !errors.Is(errUTF8, ErrInvalidUTF8) {
			t.Fatalf("WalkUTF8(%q) = %v, want ErrInvalidUTF8", clip(b), errUTF8)
		}
	case fmt.Sprint(errUTF8) != fmt.Sprint(err):
		t.Fatalf("WalkUTF8(%q) = %v, Walk says %v", clip(b), errUTF8, err)
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
			if want := mem.Kind == String && bytes.IndexByte(mem.Value, '\\') >= 0; mem.ValueEscaped != want {
				t.Fatalf("member %q: ValueEscaped = %v for %q", mem.Key, mem.ValueEscaped, mem.Value)
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
	// Strings long enough for the scanner's eight-byte steps (more in
	// TestEveryPositionOfAWord).
	`{"abcdefghijklmnopqrstuvwxyz":"0123456789abcdef0123456789abcdef"}`,
	`{"abcdefgh":"abcdefg\"","b":"abcdefgh\\ijklmnop"}`, `{"a":"abcdefghijklmn` + "\x1f" + `op"}`,
	"{\"a\":\"abcdefgh\xc3\xa9ijklmnop\"}", "{\"a\":\"abcdefgh\xc3ijklmnop\"}", "{\"abcdefgh\xff\":1}",
	"{\"a\":\"\xed\xa0\x80abcdefgh\"}", "{\"a\":1}\xff", "\xff{\"a\":1}", "{\"a\":[\"abcdefgh\xff\"]}",
	`{"a":"abcdefghijklmnop`, `{"a":"abcdefghijklmnop\`, `{"a":"abcdefghijklmnop\u00`,
}

func TestAgainstEncodingJSON(t *testing.T) {
	for _, c := range cases {
		checkAgainstStd(t, []byte(c))
	}
}

// TestEveryPositionOfAWord: whatever must stop the scanner's eight-byte
// steps (a quote, a backslash, a control character, a byte outside ASCII,
// valid or not, a sequence split across two words) stops them at any
// position of a word, in a key, a value and a nested string, and at the end
// of the input; and the bytes next to the stops (0x20, 0x21, 0x23, 0x5b,
// 0x5d, 0x7f) do not.
func TestEveryPositionOfAWord(t *testing.T) {
	stops := []string{`"`, `\`, `\n`, `\u00e9`, `\u00`, `\x`, "\x00", "\x1f", "\x7f", "\u00e9", "\xc3", "\xff",
		"\U0001f642", "\x80", "\xe2\x82", "\xf0\x9f\x99", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		" ", "!", "#", "[", "]", "\u2028"}
	for _, stop := range stops {
		for pos := range 17 {
			x, y := strings.Repeat("x", pos), strings.Repeat("y", 17-pos)
			for _, doc := range []string{
				`{"a":"` + x + stop + y + `"}`,
				`{"` + x + stop + y + `":1}`,
				`{"a":["` + x + stop + y + `"],"b":{"` + x + stop + y + `":2}}`,
				// The input ends inside the string: right after the stop,
				// or after more bytes.
				`{"a":"` + x + stop,
				`{"a":"` + x + stop + y,
				`{"` + x + stop,
				`{"a":["` + x + stop,
			} {
				checkAgainstStd(t, []byte(doc))
			}
		}
	}
}

// TestWalkUTF8Verdicts pins WalkUTF8's answer where a wrong one is easy:
// invalid UTF-8 in a key, a value, a nested string or split across a word,
// and invalid UTF-8 together with bad syntax in either order, where the
// syntax error wins (event.Parse then checks the whole value for UTF-8).
func TestWalkUTF8Verdicts(t *testing.T) {
	for _, tc := range utf8Verdicts {
		err := WalkUTF8([]byte(tc.doc), func(Member) {})
		got := ""
		switch {
		case errors.Is(err, ErrInvalidUTF8):
			got = "utf8"
		case err != nil:
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("WalkUTF8(%q) = %q, want %q", tc.doc, got, tc.want)
		}
		checkAgainstStd(t, []byte(tc.doc))
	}
}

// utf8Verdicts are TestWalkUTF8Verdicts' cases, and seeds of
// FuzzAgainstEncodingJSON.
var utf8Verdicts = []struct {
	doc  string
	want string // "" = nil, "utf8" = ErrInvalidUTF8, else the error text
}{
	{`{"abcdefgh":"ijklmnop\u00e9","q":"r"}`, ""},
	{"{\"abcdefg\xc3\xa9\":\"ijklmn\xf0\x9f\x99\x82\"}", ""},
	{"{\"abcdefg\xc3\":1}", "utf8"},
	{"{\"a\":\"abcdefg\xc3\"}", "utf8"},
	{"{\"a\":\"abcdefg\xe2\x82\"}", "utf8"},
	{"{\"a\":\"abcdef\xf0\x9f\x99yyyyy\"}", "utf8"},
	{"{\"a\":[\"ok\",{\"b\":\"\xff\"}]}", "utf8"},
	{"{\"a\":\"ok\",\"b\":\"\xed\xa0\x80\"}", "utf8"},
	{"[\"\xff\"]", ErrNotObject.Error()},
	{"{\"a\":\"abcdefg\xff\x01\"}", "invalid control character in string at byte 14"},
	{"{\"a\":\"abcdefg\x01\xff\"}", "invalid control character in string at byte 13"},
	{"{\"a\":\"\xff\\q\"}", "invalid escape character at byte 8"},
	{"{\"a\":\"\\q\xff\"}", "invalid escape character at byte 7"},
	{"{\"a\":\"\xff\"", "unexpected end of input in object at byte 8"},
	{"{\"a\":\"\xff\"}x", "invalid character after top-level value at byte 9"},
	{"{\"a\":\"x\"}\xff", "invalid character after top-level value at byte 9"},
	{"{\"a\":\xff}", "invalid character '\u00ff' looking for beginning of value at byte 5"},
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
	for _, c := range utf8Verdicts {
		f.Add([]byte(c.doc))
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

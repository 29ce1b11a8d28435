package oracle

import (
	"strings"
	"testing"
)

func TestEqualJSON(t *testing.T) {
	equal := [][2]string{
		{`{"a":1,"b":{"x":"y","z":[1,2]}}`, " {\"b\" : {\"z\":[1, 2], \"x\":\"y\"},\n\"a\":1} "},
		{`{"n":10}`, `{"n":1e1}`},
		{`{"n":1}`, `{"n":1.0}`},
		{`{"n":9223372036854775808123}`, `{"n":9223372036854775808123}`},
		{`{}`, `{}`},
		{`{"m":{}}`, `{"m":{}}`},
		{`{"s":null}`, `{"s":null}`},
	}
	for _, c := range equal {
		if ok, diff := EqualJSON([]byte(c[0]), []byte(c[1])); !ok {
			t.Errorf("%s vs %s: want equal, diff:\n%s", c[0], c[1], diff)
		}
	}

	unequal := []struct{ a, b, diffHas string }{
		{`{"events":3}`, `{"events":4}`, "$.events: 3 vs 4"},
		// beyond float64 precision the numbers still differ
		{`{"n":9223372036854775807}`, `{"n":9223372036854775806}`, "$.n"},
		{`{"n":1}`, `{"n":"1"}`, `$.n: 1 vs "1"`},
		{`{"m":{"EUR":5}}`, `{"m":{"EUR":5,"USD":1}}`, "$.m.USD: missing in first"},
		{`{"m":{"EUR":5,"USD":1}}`, `{"m":{"EUR":5}}`, "$.m.USD: first has 1, missing in second"},
		{`{"m":{}}`, `{"m":null}`, "$.m: {} vs null"},
		{`{"a":[1,2]}`, `{"a":[1]}`, "array length"},
		{`{"a":[1,2]}`, `{"a":[2,1]}`, "$.a[0]"},
		{`{"a":true}`, `{"a":false}`, "$.a: true vs false"},
		{`{"a":1}`, `{"a":1}x`, "second value"},
		{`not json`, `{}`, "first value"},
	}
	for _, c := range unequal {
		ok, diff := EqualJSON([]byte(c.a), []byte(c.b))
		if ok {
			t.Errorf("%s vs %s: want unequal", c.a, c.b)
			continue
		}
		if !strings.Contains(diff, c.diffHas) {
			t.Errorf("%s vs %s: diff %q lacks %q", c.a, c.b, diff, c.diffHas)
		}
	}
}

package chdbtest

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"only whitespace and semicolons", " ;\n; ;", nil},
		{"single without semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"trims and drops trailing empty", "  SELECT 1 ;\n\n SELECT 2;\n", []string{"SELECT 1", "SELECT 2"}},
		{"semicolon in single quotes", "SELECT 'a;b'; SELECT 2", []string{"SELECT 'a;b'", "SELECT 2"}},
		{"doubled single quote", "SELECT 'it''s;'; SELECT 2", []string{"SELECT 'it''s;'", "SELECT 2"}},
		{"backslash-escaped quote", `SELECT 'a\';b'; SELECT 2`, []string{`SELECT 'a\';b'`, "SELECT 2"}},
		{"escaped backslash ends string", `SELECT 'a\\'; SELECT 2`, []string{`SELECT 'a\\'`, "SELECT 2"}},
		{"double-quoted identifier", `SELECT 1 AS "x;y"; SELECT 2`, []string{`SELECT 1 AS "x;y"`, "SELECT 2"}},
		{"backquoted identifier", "CREATE TABLE `a;b` (x Int8) ENGINE=Memory; SELECT 2",
			[]string{"CREATE TABLE `a;b` (x Int8) ENGINE=Memory", "SELECT 2"}},
		{"line comment", "SELECT 1 -- no; split\n; SELECT 2", []string{"SELECT 1 -- no; split", "SELECT 2"}},
		{"line comment at end of file", "SELECT 1; -- trailing; comment", []string{"SELECT 1"}},
		{"hash comment", "# a; comment\nSELECT 1;#!also; one\nSELECT 2", []string{"# a; comment\nSELECT 1", "#!also; one\nSELECT 2"}},
		{"hash not comment", "SELECT 1 AS `#x`;SELECT 2", []string{"SELECT 1 AS `#x`", "SELECT 2"}},
		{"block comment", "SELECT /* ; */ 1; SELECT 2", []string{"SELECT /* ; */ 1", "SELECT 2"}},
		{"nested block comment", "SELECT /* a /* ; */ ; */ 1; SELECT 2", []string{"SELECT /* a /* ; */ ; */ 1", "SELECT 2"}},
		{"comment-only statements dropped", "-- header; here\n/* ; */ ;\nSELECT 1;\n-- footer\n", []string{"SELECT 1"}},
		{"heredoc", "SELECT $$a;b$$; SELECT $tag$x;$$;y$tag$", []string{"SELECT $$a;b$$", "SELECT $tag$x;$$;y$tag$"}},
		{"lone dollar", "SELECT '$'; SELECT $1 ; SELECT 3", []string{"SELECT '$'", "SELECT $1", "SELECT 3"}},
		{"quote chars inside other quotes", `SELECT '"', "'", '` + "`" + `'; SELECT 2`,
			[]string{`SELECT '"', "'", '` + "`" + `'`, "SELECT 2"}},
		{"comment markers inside strings", "SELECT '--', '/*', '#'; SELECT 2", []string{"SELECT '--', '/*', '#'", "SELECT 2"}},
		{"minus is not a comment", "SELECT 3-1; SELECT -2", []string{"SELECT 3-1", "SELECT -2"}},
		{"inline JSONEachRow data", "INSERT INTO t FORMAT JSONEachRow {\"a\":\";\"} {\"a\":\"x\"};\nSELECT 2",
			[]string{"INSERT INTO t FORMAT JSONEachRow {\"a\":\";\"} {\"a\":\"x\"}", "SELECT 2"}},
		{"multi-byte text", "SELECT 'größe;€'; SELECT 2", []string{"SELECT 'größe;€'", "SELECT 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitStatements(tt.in)
			if err != nil {
				t.Fatalf("SplitStatements(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SplitStatements(%q)\n got  %q\n want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSplitStatementsUnterminated(t *testing.T) {
	tests := []struct {
		in, wantErr string
	}{
		{"SELECT 1;\nSELECT 'abc", "unterminated '-quoted text starting at line 2, column 8"},
		{`SELECT "abc\"`, `unterminated "-quoted text`},
		{"SELECT `abc", "unterminated `-quoted text"},
		{"SELECT 1 /* open /* nested */", "unterminated /* comment starting at line 1, column 10"},
		{"SELECT $x$abc", "unterminated $x$ heredoc"},
	}
	for _, tt := range tests {
		got, err := SplitStatements(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("SplitStatements(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
		}
	}
}

// FuzzSplitStatements checks invariants that hold for any input: no panic,
// and every statement is non-empty, trimmed and taken verbatim from the input.
func FuzzSplitStatements(f *testing.F) {
	for _, s := range []string{"SELECT 1; SELECT 'a;b'", "/* /* */ */;", "$a$;$a$", "--\n#!\n`;`", `'\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		stmts, err := SplitStatements(in)
		if err != nil {
			return
		}
		for _, s := range stmts {
			if s == "" || isSpace(s[0]) || isSpace(s[len(s)-1]) {
				t.Fatalf("statement %q of %q is empty or untrimmed", s, in)
			}
			if !strings.Contains(in, s) {
				t.Fatalf("statement %q is not a substring of %q", s, in)
			}
		}
	})
}

package chdbtest

import (
	"fmt"
	"strings"
)

// SplitStatements splits a SQL script into statements at top-level ';'.
// chdb_query_n runs one statement per call ("Multi-statements are not
// allowed"), so schema files have to be cut up before they are executed.
//
// The scanner follows ClickHouse's lexer closely enough for schema files: a
// ';' inside '…' strings (with \ escapes and ” doubling), "…" and `…`
// identifiers, $tag$…$tag$ heredocs, -- and # line comments and nested /* */
// comments does not end a statement. Statements are returned trimmed, without
// the ';'; statements that hold only comments and whitespace are dropped. An
// unterminated string or comment is an error, so a broken file fails loudly
// rather than running half a statement.
//
// Inline INSERT data is scanned as SQL too: FORMAT JSONEachRow rows are fine
// (their ';' sit inside "…"), but CSV/TSV data with a bare ';' must be sent
// with Exec instead.
func SplitStatements(script string) ([]string, error) {
	var (
		stmts   []string
		start   int  // first byte of the current statement
		hasCode bool // current statement holds something besides comments
	)
	flush := func(end int) {
		if hasCode {
			stmts = append(stmts, trimSpace(script[start:end]))
		}
		start, hasCode = end+1, false
	}

	for i := 0; i < len(script); {
		c := script[i]
		switch {
		case c == ';':
			flush(i)
			i++
		case c == '\'' || c == '"' || c == '`':
			end, err := skipQuoted(script, i)
			if err != nil {
				return nil, err
			}
			hasCode, i = true, end
		case c == '-' && strings.HasPrefix(script[i:], "--"),
			c == '#' && isHashComment(script, i):
			if nl := strings.IndexByte(script[i:], '\n'); nl >= 0 {
				i += nl + 1
			} else {
				i = len(script)
			}
		case c == '/' && strings.HasPrefix(script[i:], "/*"):
			end, err := skipBlockComment(script, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '$' && (i == 0 || !isIdentByte(script[i-1])):
			end, ok, err := skipHeredoc(script, i)
			if err != nil {
				return nil, err
			}
			if !ok {
				end = i + 1
			}
			hasCode, i = true, end
		default:
			if !isSpace(c) {
				hasCode = true
			}
			i++
		}
	}
	flush(len(script))
	return stmts, nil
}

// skipQuoted returns the index just past the quoted token opening at i. A
// backslash escapes the next byte and a doubled quote stands for itself, as
// in ClickHouse.
func skipQuoted(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("chdb: unterminated %c-quoted text starting at %s", q, position(s, i))
}

// skipBlockComment returns the index just past the /* */ comment opening at
// i; ClickHouse allows them to nest.
func skipBlockComment(s string, i int) (int, error) {
	depth := 0
	for j := i; j+1 < len(s); {
		switch {
		case s[j] == '/' && s[j+1] == '*':
			depth++
			j += 2
		case s[j] == '*' && s[j+1] == '/':
			depth--
			j += 2
			if depth == 0 {
				return j, nil
			}
		default:
			j++
		}
	}
	return 0, fmt.Errorf("chdb: unterminated /* comment starting at %s", position(s, i))
}

// skipHeredoc handles $tag$…$tag$ strings. ok is false when the '$' at i
// does not open a heredoc (a lone '$' is left to the engine to reject).
func skipHeredoc(s string, i int) (end int, ok bool, err error) {
	j := i + 1
	for j < len(s) && isIdentByte(s[j]) {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return 0, false, nil
	}
	tag := s[i : j+1]
	k := strings.Index(s[j+1:], tag)
	if k < 0 {
		return 0, false, fmt.Errorf("chdb: unterminated %s heredoc starting at %s", tag, position(s, i))
	}
	return j + 1 + k + len(tag), true, nil
}

// isHashComment reports whether the '#' at i starts a comment: ClickHouse
// treats "# " and "#!" as line comments, other uses of '#' are not comments.
func isHashComment(s string, i int) bool {
	if i+1 >= len(s) {
		return true
	}
	n := s[i+1]
	return n == '!' || isSpace(n)
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// trimSpace trims what isSpace calls space. strings.TrimSpace would also eat
// Unicode spaces such as U+0085, which the scanner counts as code, and could
// leave an empty statement.
func trimSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// position renders byte offset i as "line L, column C" for error messages.
func position(s string, i int) string {
	line := 1 + strings.Count(s[:i], "\n")
	col := i - strings.LastIndexByte(s[:i], '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

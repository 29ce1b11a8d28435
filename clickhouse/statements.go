package clickhouse

import (
	"fmt"
	"strings"
)

// splitStatements cuts a SQL script into statements at top-level ';'. The
// native protocol runs one statement per query, so schema files have to be
// split before they are sent. A ';' inside '…' strings (backslash escapes,
// doubled quotes), "…" or `…` identifiers, -- line comments and /* */
// comments (which nest in ClickHouse) does not end a statement. Statements
// are trimmed; those holding only comments are dropped. An unterminated
// string or comment is an error rather than half a statement.
//
// Package chdb has its own, fuller splitter; this one is kept here so the
// production binary does not link the chDB loader, and a chdb-tagged test
// checks that both agree on the schema files.
func splitStatements(script string) ([]string, error) {
	var out []string
	start, code := 0, false
	for i := 0; i < len(script); {
		c := script[i]
		switch {
		case c == ';':
			if code {
				out = append(out, strings.TrimSpace(script[start:i]))
			}
			start, code = i+1, false
			i++
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for ; j < len(script); j++ {
				if script[j] == '\\' {
					j++
					continue
				}
				if script[j] == c {
					if j+1 < len(script) && script[j+1] == c {
						j++
						continue
					}
					break
				}
			}
			if j >= len(script) {
				return nil, fmt.Errorf("unterminated %c-quoted text at byte %d", c, i)
			}
			code, i = true, j+1
		case strings.HasPrefix(script[i:], "--"):
			if nl := strings.IndexByte(script[i:], '\n'); nl >= 0 {
				i += nl + 1
			} else {
				i = len(script)
			}
		case strings.HasPrefix(script[i:], "/*"):
			depth, j := 0, i
			for j+1 < len(script) {
				if script[j] == '/' && script[j+1] == '*' {
					depth, j = depth+1, j+2
				} else if script[j] == '*' && script[j+1] == '/' {
					depth, j = depth-1, j+2
					if depth == 0 {
						break
					}
				} else {
					j++
				}
			}
			if depth != 0 {
				return nil, fmt.Errorf("unterminated /* comment at byte %d", i)
			}
			i = j
		default:
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				code = true
			}
			i++
		}
	}
	if code {
		out = append(out, strings.TrimSpace(script[start:]))
	}
	return out, nil
}

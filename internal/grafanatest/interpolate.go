package grafanatest

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// TimeRange is a dashboard's time range.
type TimeRange struct {
	From, To time.Time
}

// VarValue is the current value of a template variable: All (Grafana's
// "$__all") or the selected values. Options lists every value the variable
// offers, which is what All expands to where it is not short-circuited.
type VarValue struct {
	All     bool
	Values  []string
	Options []string
}

func (v VarValue) current() []string {
	if v.All {
		return v.Options
	}
	return v.Values
}

// Interpolate turns a ClickHouse query of a dashboard into the SQL the
// plugin sends to ClickHouse, in the plugin's order: $__conditionalAll and
// template variables in the browser (CHDatasource.applyTemplateVariables),
// then the backend macros (pkg/macros in grafana/clickhouse-datasource).
// interval is the panel's $__interval. An unknown $__ macro or an undefined
// variable is an error, so a typo in a dashboard fails the tests instead of
// reaching ClickHouse as text.
func Interpolate(sql string, tr TimeRange, interval time.Duration, vars map[string]VarValue) (string, error) {
	s, err := conditionalAll(sql, vars)
	if err != nil {
		return "", err
	}
	s, err = replaceVariables(s, vars)
	if err != nil {
		return "", err
	}
	return expandMacros(s, tr, interval)
}

// conditionalAll: $__conditionalAll(condition, $var) is the condition, or
// 1=1 when $var is All or has no value.
func conditionalAll(sql string, vars map[string]VarValue) (string, error) {
	const macro = "$__conditionalAll"
	for {
		i := strings.LastIndex(sql, macro+"(")
		if i < 0 {
			return sql, nil
		}
		args, end, err := macroArgs(sql, i+len(macro))
		if err != nil {
			return "", err
		}
		if len(args) != 2 {
			return "", fmt.Errorf("%s wants 2 arguments, got %d in %q", macro, len(args), sql[i:end])
		}
		name := strings.TrimSpace(args[1])
		name = strings.TrimPrefix(name, "$")
		name = strings.TrimSuffix(strings.TrimPrefix(name, "{"), "}")
		v, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("%s refers to undefined variable %q", macro, args[1])
		}
		repl := args[0]
		if v.All || len(v.Values) == 0 {
			repl = "1=1"
		}
		sql = sql[:i] + repl + sql[end:]
	}
}

// Grafana's variable syntax: $name, [[name]], [[name:format]], ${name},
// ${name:format}.
var variableRE = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?::([^}]+))?\}`)

func replaceVariables(sql string, vars map[string]VarValue) (string, error) {
	var firstErr error
	out := variableRE.ReplaceAllStringFunc(sql, func(m string) string {
		g := variableRE.FindStringSubmatch(m)
		name, format := g[1], ""
		switch {
		case g[2] != "":
			name, format = g[2], g[3]
		case g[4] != "":
			name, format = g[4], g[5]
		}
		if strings.HasPrefix(name, "__") {
			return m // a macro, or a Grafana global the backend expands
		}
		v, ok := vars[name]
		if !ok {
			if firstErr == nil {
				firstErr = fmt.Errorf("undefined template variable %q", name)
			}
			return m
		}
		vals := v.current()
		switch format {
		case "singlequote":
			q := make([]string, len(vals))
			for i, s := range vals {
				q[i] = "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
			}
			return strings.Join(q, ",")
		case "csv", "raw":
			return strings.Join(vals, ",")
		case "":
			// The plugin's own formatter: lists become 'a','b', a single
			// value of a single-value variable goes in unquoted.
			if v.All || len(vals) != 1 {
				return "'" + strings.Join(vals, "','") + "'"
			}
			return vals[0]
		default:
			if firstErr == nil {
				firstErr = fmt.Errorf("variable %q: format %q is not supported here", name, format)
			}
			return m
		}
	})
	return out, firstErr
}

var macroName = regexp.MustCompile(`^\$__(\w+)`)

// expandMacros implements the plugin's backend macros (pkg/macros/macros.go).
func expandMacros(sql string, tr TimeRange, interval time.Duration) (string, error) {
	from, to := tr.From.Unix(), tr.To.Unix()
	fromMs, toMs := tr.From.UnixMilli(), tr.To.UnixMilli()
	seconds := int64(math.Max(interval.Seconds(), 1))
	ms := int64(math.Max(float64(interval.Milliseconds()), 1))

	var b strings.Builder
	for i := 0; i < len(sql); {
		m := macroName.FindStringSubmatch(sql[i:])
		if m == nil {
			b.WriteByte(sql[i])
			i++
			continue
		}
		name := m[1]
		next := i + len(m[0])
		var args []string
		if next < len(sql) && sql[next] == '(' {
			var err error
			args, next, err = macroArgs(sql, next)
			if err != nil {
				return "", err
			}
		}
		one := func() (string, error) {
			if len(args) != 1 {
				return "", fmt.Errorf("$__%s wants 1 argument, got %d", name, len(args))
			}
			return strings.TrimSpace(args[0]), nil
		}
		var repl string
		switch name {
		case "timeFilter":
			c, err := one()
			if err != nil {
				return "", err
			}
			repl = fmt.Sprintf("%s >= toDateTime(%d) AND %s <= toDateTime(%d)", c, from, c, to)
		case "timeFilter_ms":
			c, err := one()
			if err != nil {
				return "", err
			}
			repl = fmt.Sprintf("%s >= fromUnixTimestamp64Milli(%d) AND %s <= fromUnixTimestamp64Milli(%d)", c, fromMs, c, toMs)
		case "dateFilter":
			c, err := one()
			if err != nil {
				return "", err
			}
			repl = fmt.Sprintf("%s >= toDate('%s') AND %s <= toDate('%s')", c, tr.From.UTC().Format("2006-01-02"), c, tr.To.UTC().Format("2006-01-02"))
		case "timeInterval":
			c, err := one()
			if err != nil {
				return "", err
			}
			repl = fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", c, seconds)
		case "timeInterval_ms":
			c, err := one()
			if err != nil {
				return "", err
			}
			repl = fmt.Sprintf("toStartOfInterval(toDateTime64(%s, 3), INTERVAL %d millisecond)", c, ms)
		case "fromTime":
			repl = fmt.Sprintf("toDateTime(%d)", from)
		case "toTime":
			repl = fmt.Sprintf("toDateTime(%d)", to)
		case "fromTime_ms":
			repl = fmt.Sprintf("fromUnixTimestamp64Milli(%d)", fromMs)
		case "toTime_ms":
			repl = fmt.Sprintf("fromUnixTimestamp64Milli(%d)", toMs)
		case "interval_s":
			repl = fmt.Sprint(seconds)
		default:
			return "", fmt.Errorf("macro $__%s is not one this package expands (a typo, or add it from the plugin's pkg/macros)", name)
		}
		if (name == "fromTime" || name == "toTime" || name == "fromTime_ms" || name == "toTime_ms" || name == "interval_s") && args != nil {
			return "", fmt.Errorf("$__%s takes no arguments", name)
		}
		b.WriteString(repl)
		i = next
	}
	return b.String(), nil
}

// macroArgs parses the parenthesised, comma-separated arguments starting at
// sql[open] == '(' and returns them with the index just past the ')'.
// Commas inside nested parentheses or quotes do not split.
func macroArgs(sql string, open int) ([]string, int, error) {
	if open >= len(sql) || sql[open] != '(' {
		return nil, 0, fmt.Errorf("macro at byte %d: want '('", open)
	}
	depth, start := 0, open+1
	var args []string
	for i := open; i < len(sql); i++ {
		switch c := sql[i]; c {
		case '\'', '"', '`':
			j := strings.IndexByte(sql[i+1:], c)
			if j < 0 {
				return nil, 0, fmt.Errorf("unterminated %c in macro arguments at byte %d", c, i)
			}
			i += j + 1
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return append(args, sql[start:i]), i + 1, nil
			}
		case ',':
			if depth == 1 {
				args = append(args, sql[start:i])
				start = i + 1
			}
		}
	}
	return nil, 0, fmt.Errorf("unbalanced parentheses in macro arguments starting at byte %d", open)
}

package clickhouse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Native is a DB over clickhouse-go v2 (native protocol, or HTTP for an
// http:// DSN). It is deliberately thin: statements go through unchanged and
// QueryJSON asks the server to render each row as JSONEachRow, so a row
// decodes exactly as it does from chDB and the tests' expectations carry
// over to a real server.
type Native struct {
	conn driver.Conn
	opts *ch.Options
}

// ParseDSN turns a DSN into clickhouse-go options with streamlab's defaults:
//
//	clickhouse://[user[:password]@]host[:port][,host2:port]/[database][?param=value]
//	http://host:8123/database        (HTTP interface)
//	host[:port]                      (shorthand for clickhouse://host:port)
//
// Parameters are clickhouse-go's (dial_timeout, secure, compress, ...;
// unknown ones become ClickHouse settings). A port left out is 9000 for
// native (9440 with secure=true) and 8123 for http (8443 for https). The
// database is the session default; empty means the server's default, which
// is what Apply needs before the streamlab database exists. Errors never
// contain the password.
func ParseDSN(dsn string) (*ch.Options, error) {
	raw := strings.TrimSpace(dsn)
	if raw == "" {
		return nil, errors.New("clickhouse DSN is empty: want clickhouse://host:9000[/database]")
	}
	if !strings.Contains(raw, "://") {
		raw = "clickhouse://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("clickhouse DSN %s: not a URL", Redact(dsn))
	}
	switch u.Scheme {
	case "clickhouse", "tcp", "http", "https":
	default:
		return nil, fmt.Errorf("clickhouse DSN %s: scheme %q, want clickhouse://, tcp://, http:// or https://", Redact(dsn), u.Scheme)
	}
	opts, err := ch.ParseDSN(raw)
	if err != nil {
		return nil, fmt.Errorf("clickhouse DSN %s: %s", Redact(dsn), redactErr(err, u))
	}
	secure := opts.TLS != nil
	port := "9000"
	switch {
	case opts.Protocol == ch.HTTP && secure:
		port = "8443"
	case opts.Protocol == ch.HTTP:
		port = "8123"
	case secure:
		port = "9440"
	}
	for i, a := range opts.Addr {
		if a == "" {
			return nil, fmt.Errorf("clickhouse DSN %s: empty host", Redact(dsn))
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			opts.Addr[i] = net.JoinHostPort(strings.Trim(a, "[]"), port)
		}
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 10 * time.Second
	}
	opts.ClientInfo.Products = append(opts.ClientInfo.Products, struct{ Name, Version string }{"streamlab", ""})
	return opts, nil
}

// Redact returns the DSN with any password replaced, for logs and errors.
func Redact(dsn string) string {
	raw := dsn
	if !strings.Contains(raw, "://") {
		raw = "clickhouse://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Unparseable: say nothing that could be a secret.
		return "(unparseable DSN)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

func redactErr(err error, u *url.URL) string {
	msg := err.Error()
	if p, ok := u.User.Password(); ok && p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	if p := u.Query().Get("password"); p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return msg
}

// OpenNative opens a connection pool for dsn (see ParseDSN). Connections are
// made on first use; call Ping to fail fast on a bad address or password.
func OpenNative(dsn string) (*Native, error) {
	opts, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := ch.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse open %s: %w", Redact(dsn), err)
	}
	return &Native{conn: conn, opts: opts}, nil
}

// Ping checks that the server answers and accepts the credentials.
func (n *Native) Ping(ctx context.Context) error {
	if err := n.conn.Ping(ctx); err != nil {
		return fmt.Errorf("clickhouse ping %s: %w", strings.Join(n.opts.Addr, ","), err)
	}
	return nil
}

// Exec runs a statement that returns no rows.
func (n *Native) Exec(ctx context.Context, query string) error {
	return n.conn.Exec(ctx, query)
}

// QueryJSON runs a SELECT and returns its rows as JSONEachRow renders them.
func (n *Native) QueryJSON(ctx context.Context, query string) ([]map[string]any, error) {
	rows, err := n.conn.Query(ctx, JSONRowsQuery(query))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []map[string]any{}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, fmt.Errorf("clickhouse: scan row %d: %w", len(out), err)
		}
		row, err := decodeJSONRow(line)
		if err != nil {
			return nil, fmt.Errorf("clickhouse: row %d: %w", len(out), err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Close closes the pool.
func (n *Native) Close() error { return n.conn.Close() }

// JSONRowsQuery wraps a SELECT so that it returns one String column,
// json_row, holding each row as ClickHouse's JSONEachRow renders it, 64-bit
// integers unquoted as in chDB's output. The server does the typing (Map,
// DateTime64, Nullable, ...), so no client-side type switch can drift from
// what the dashboards see.
func JSONRowsQuery(query string) string {
	q := strings.TrimRight(strings.TrimSpace(query), "; \t\r\n")
	// The newline before ')' keeps a trailing -- comment from swallowing it.
	return "SELECT formatRow('JSONEachRow', *) AS json_row FROM (\n" + q + "\n) SETTINGS output_format_json_quote_64bit_integers = 0"
}

func decodeJSONRow(line string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(line)))
	dec.UseNumber()
	var row map[string]any
	if err := dec.Decode(&row); err != nil {
		return nil, fmt.Errorf("decode %q: %w", abbreviate(line, 120), err)
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("more than one JSON value in %q", abbreviate(line, 120))
	}
	return row, nil
}

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

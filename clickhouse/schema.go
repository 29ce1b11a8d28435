// Package clickhouse owns the ClickHouse side of streamlab: the versioned
// schema (Kafka engine tables, materialized views into ReplacingMergeTree
// tables, the views the Grafana dashboards read), applying it idempotently,
// a thin clickhouse-go adapter, and the reconciliation of ClickHouse's
// per-window totals against the aggregate topic (streamlab clickhouse verify).
//
// Everything talks to ClickHouse through DB, which the clickhouse-go adapter
// (Native) and the in-process engine of package chdb both implement, so the
// tests run the very SQL production runs on a real ClickHouse engine.
package clickhouse

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/streamlab/streamlab/internal/topic"
)

// DB is the little of a ClickHouse connection this package needs.
type DB interface {
	// Exec runs a statement that returns no rows.
	Exec(ctx context.Context, query string) error
	// QueryJSON runs a SELECT (without a FORMAT clause) and returns its rows
	// as ClickHouse's JSONEachRow renders them, numbers as json.Number.
	QueryJSON(ctx context.Context, query string) ([]map[string]any, error)
}

// DefaultDatabase is the database the schema lives in unless told otherwise.
const DefaultDatabase = "streamlab"

// Params fill the schema's placeholders.
type Params struct {
	// Database holds every table and view; an identifier ([A-Za-z_][A-Za-z0-9_]*).
	Database string
	// Brokers are the Kafka bootstrap addresses as the ClickHouse server
	// reaches them (inside docker-compose that is the broker's service
	// name, not localhost).
	Brokers []string
	// Topics read by the Kafka engine tables.
	AggTopic, DLQTopic, AlertsTopic string
	// ConsumerGroup prefixes the Kafka engine consumer groups: one group per
	// table (<group>.agg, <group>.dlq, <group>.alerts), so the three tables
	// never rebalance each other.
	ConsumerGroup string
	// FlushInterval is kafka_flush_interval_ms: how long the Kafka engine
	// collects a block before writing it. Lower means fresher dashboards and
	// more, smaller parts.
	FlushInterval time.Duration
	// StandIn replaces each Kafka engine table by a Null table with the same
	// columns, the Kafka engine's virtual columns (_key, _partition,
	// _offset, _headers.name, ...) included, so the materialized views can be
	// fed with INSERTs where no broker is involved. Brokers are then unused.
	StandIn bool
}

// DefaultParams are the contract's topic names, database streamlab, consumer
// group prefix streamlab-clickhouse and a 1 s flush interval. Brokers are
// left empty on purpose: only the deployment knows how ClickHouse reaches
// Kafka.
func DefaultParams() Params {
	t := topic.Defaults()
	return Params{
		Database:      DefaultDatabase,
		AggTopic:      t.Agg,
		DLQTopic:      t.DLQ,
		AlertsTopic:   t.Alerts,
		ConsumerGroup: "streamlab-clickhouse",
		FlushInterval: time.Second,
	}
}

// Statement is one rendered SQL statement of one schema file.
type Statement struct {
	Version int    // the file's number, e.g. 1 for 001_aggregates.sql
	File    string // the file's name
	Index   int    // 1-based position in the file
	SQL     string // without the trailing ';'
}

//go:embed schema/*.sql
var schemaFS embed.FS

// migration is one schema file.
type migration struct {
	version  int
	file     string
	text     string
	checksum string // of the template text, so the same file renders the same checksum for every deployment
}

var fileName = regexp.MustCompile(`^(\d{3})_[a-z0-9_]+\.sql$`)

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(schemaFS, "schema")
	if err != nil {
		return nil, fmt.Errorf("read embedded schema: %w", err)
	}
	var out []migration
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("schema file %s: name must look like 001_name.sql", e.Name())
		}
		b, err := fs.ReadFile(schemaFS, path.Join("schema", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read schema file %s: %w", e.Name(), err)
		}
		v, _ := strconv.Atoi(m[1])
		if len(out) > 0 && out[len(out)-1].version == v {
			return nil, fmt.Errorf("schema files %s and %s share version %d", out[len(out)-1].file, e.Name(), v)
		}
		sum := sha256.Sum256(b)
		out = append(out, migration{version: v, file: e.Name(), text: string(b), checksum: hex.EncodeToString(sum[:])})
	}
	return out, nil // fs.ReadDir sorts by name, so by version
}

// templateData is what the schema templates see; every string in it has
// been validated, and string values reach SQL only through sq.
type templateData struct {
	Database                        string
	BrokerList                      string
	AggTopic, DLQTopic, AlertsTopic string
	AggGroup, DLQGroup, AlertsGroup string
	FlushIntervalMs                 int64
	StandIn                         bool
}

var (
	identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// Kafka's own rule for topic names.
	topicName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
)

func (p Params) data() (templateData, error) {
	var errs []error
	if !identifier.MatchString(p.Database) {
		errs = append(errs, fmt.Errorf("database %q: want an identifier ([A-Za-z_][A-Za-z0-9_]*)", p.Database))
	}
	for _, t := range []struct{ flag, v string }{{"aggregate", p.AggTopic}, {"dead-letter", p.DLQTopic}, {"alerts", p.AlertsTopic}} {
		if !topicName.MatchString(t.v) {
			errs = append(errs, fmt.Errorf("%s topic %q: want 1-249 characters of [A-Za-z0-9._-]", t.flag, t.v))
		}
	}
	if p.ConsumerGroup == "" || strings.ContainsFunc(p.ConsumerGroup, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		errs = append(errs, fmt.Errorf("consumer group %q: want a non-empty name without control characters", p.ConsumerGroup))
	}
	ms := p.FlushInterval.Milliseconds()
	if ms < 1 || p.FlushInterval > time.Hour {
		errs = append(errs, fmt.Errorf("flush interval %v: want between 1ms and 1h", p.FlushInterval))
	}
	if !p.StandIn {
		if len(p.Brokers) == 0 {
			errs = append(errs, errors.New("no Kafka brokers: give the addresses the ClickHouse server reaches Kafka at"))
		}
		for _, b := range p.Brokers {
			if _, _, err := net.SplitHostPort(b); err != nil || strings.ContainsAny(b, ", ") {
				errs = append(errs, fmt.Errorf("broker %q: want host:port", b))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return templateData{}, fmt.Errorf("clickhouse schema parameters: %w", err)
	}
	return templateData{
		Database: p.Database, BrokerList: strings.Join(p.Brokers, ","),
		AggTopic: p.AggTopic, DLQTopic: p.DLQTopic, AlertsTopic: p.AlertsTopic,
		AggGroup: p.ConsumerGroup + ".agg", DLQGroup: p.ConsumerGroup + ".dlq", AlertsGroup: p.ConsumerGroup + ".alerts",
		FlushIntervalMs: ms, StandIn: p.StandIn,
	}, nil
}

// sq renders s as a single-quoted ClickHouse string literal.
func sq(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// Render fills the placeholders of every schema file and splits the files
// into statements, in the order Apply runs them.
func Render(p Params) ([]Statement, error) {
	data, err := p.data()
	if err != nil {
		return nil, err
	}
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	var out []Statement
	for _, m := range ms {
		stmts, err := renderFile(m, data)
		if err != nil {
			return nil, err
		}
		out = append(out, stmts...)
	}
	return out, nil
}

func renderFile(m migration, data templateData) ([]Statement, error) {
	// missingkey=error and a fixed struct make a misspelt placeholder a
	// render error instead of an empty string in the SQL.
	t, err := template.New(m.file).Option("missingkey=error").Funcs(template.FuncMap{"sq": sq}).Parse(m.text)
	if err != nil {
		return nil, fmt.Errorf("schema file %s: %w", m.file, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("schema file %s: %w", m.file, err)
	}
	parts, err := splitStatements(b.String())
	if err != nil {
		return nil, fmt.Errorf("schema file %s: %w", m.file, err)
	}
	out := make([]Statement, len(parts))
	for i, s := range parts {
		out[i] = Statement{Version: m.version, File: m.file, Index: i + 1, SQL: s}
	}
	return out, nil
}

// Apply creates the database and every table and view that does not exist
// yet, and records each schema file in <database>.schema_migrations. Every
// statement is idempotent (CREATE ... IF NOT EXISTS), so Apply may run at
// every start and heals a partly dropped schema. It refuses to run when a
// file recorded as applied has changed since: CREATE IF NOT EXISTS would
// silently keep the old definition, so a change needs a new numbered file.
func Apply(ctx context.Context, db DB, p Params) error {
	stmts, err := Render(p)
	if err != nil {
		return err
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	dbName := p.Database
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS " + dbName,
		"CREATE TABLE IF NOT EXISTS " + dbName + `.schema_migrations
(
    version    UInt32,
    file       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version`,
	} {
		if err := db.Exec(ctx, q); err != nil {
			return fmt.Errorf("clickhouse apply: %s: %w", firstLine(q), err)
		}
	}
	rows, err := db.QueryJSON(ctx, "SELECT version, file, checksum FROM "+dbName+".schema_migrations FINAL ORDER BY version")
	if err != nil {
		return fmt.Errorf("clickhouse apply: read schema_migrations: %w", err)
	}
	applied := map[int]string{}
	for _, r := range rows {
		v, err := strconv.Atoi(fmt.Sprint(r["version"]))
		if err != nil {
			return fmt.Errorf("clickhouse apply: schema_migrations row %v: %w", r, err)
		}
		applied[v] = fmt.Sprint(r["checksum"])
	}
	for _, m := range ms {
		if sum, ok := applied[m.version]; ok && sum != m.checksum {
			return fmt.Errorf("clickhouse apply: schema file %s changed after it was applied to database %s (checksum %.12s, now %.12s): "+
				"add a new numbered file instead of editing an applied one, or drop the database and consume the topics again with a new consumer group",
				m.file, dbName, sum, m.checksum)
		}
	}
	for _, m := range ms {
		for _, s := range stmts {
			if s.Version != m.version {
				continue
			}
			if err := db.Exec(ctx, s.SQL); err != nil {
				return fmt.Errorf("clickhouse apply: %s statement %d (%s): %w", s.File, s.Index, firstLine(s.SQL), err)
			}
		}
		if _, ok := applied[m.version]; ok {
			continue
		}
		ins := fmt.Sprintf("INSERT INTO %s.schema_migrations (version, file, checksum) VALUES (%d, %s, %s)", dbName, m.version, sq(m.file), sq(m.checksum))
		if err := db.Exec(ctx, ins); err != nil {
			return fmt.Errorf("clickhouse apply: record %s: %w", m.file, err)
		}
	}
	return nil
}

// firstLine is a statement's first non-comment line, for error messages.
func firstLine(q string) string {
	for _, l := range strings.Split(q, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "--") {
			return l
		}
	}
	return ""
}

package clickhouse

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func kafkaParams() Params {
	p := DefaultParams()
	p.Brokers = []string{"kafka:9092", "kafka2:9092"}
	return p
}

func render(t *testing.T, p Params) []Statement {
	t.Helper()
	stmts, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	return stmts
}

var (
	createRE = regexp.MustCompile(`(?s)^CREATE (TABLE|VIEW|MATERIALIZED VIEW) IF NOT EXISTS (\w+)\.(\w+)`)
	// Setting a table setting to a value is idempotent too.
	settingRE = regexp.MustCompile(`(?s)^ALTER TABLE (\w+)\.(\w+) MODIFY SETTING [a-z_]+ = \w+(?:, [a-z_]+ = \w+)*$`)
	mvRE      = regexp.MustCompile(`(?s)^CREATE MATERIALIZED VIEW IF NOT EXISTS \w+\.(\w+) TO \w+\.(\w+) AS.*\bFROM (\w+)\.(\w+)`)
	refRE     = regexp.MustCompile(`(?i)\b(?:FROM|JOIN|TO)\s+([A-Za-z_][\w.]*)(\(?)`)
)

// stripComments drops -- comments so the checks below look at SQL only.
func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, "--"); i >= 0 {
			l = l[:i]
		}
		b.WriteString(l + "\n")
	}
	return strings.TrimSpace(b.String())
}

func TestRenderKafka(t *testing.T) {
	stmts := render(t, kafkaParams())
	files := map[string]bool{}
	kafkaTables := 0
	for _, s := range stmts {
		files[s.File] = true
		sql := stripComments(s.SQL)
		if strings.Contains(sql, "{{") || strings.Contains(sql, "}}") {
			t.Errorf("%s #%d still has a placeholder:\n%s", s.File, s.Index, sql)
		}
		m := createRE.FindStringSubmatch(sql)
		if a := settingRE.FindStringSubmatch(sql); a != nil {
			m = []string{sql, "ALTER", a[1], a[2]}
		}
		if m == nil {
			t.Errorf("%s #%d is neither an idempotent CREATE ... IF NOT EXISTS nor ALTER TABLE ... MODIFY SETTING:\n%s", s.File, s.Index, sql)
			continue
		}
		if m[2] != "streamlab" {
			t.Errorf("%s #%d creates %s.%s, want database streamlab", s.File, s.Index, m[2], m[3])
		}
		for _, ref := range refRE.FindAllStringSubmatch(sql, -1) {
			if ref[2] == "(" { // ARRAY JOIN f(...): a function, not a table
				continue
			}
			if !strings.HasPrefix(ref[1], "streamlab.") {
				t.Errorf("%s #%d refers to %q without the database: the schema must not depend on the session's default database", s.File, s.Index, ref[1])
			}
		}
		if strings.Contains(sql, "ENGINE = Kafka") {
			kafkaTables++
			for _, want := range []string{"kafka_broker_list = 'kafka:9092,kafka2:9092'", "kafka_format = 'RawBLOB'", "kafka_flush_interval_ms = 1000"} {
				if !strings.Contains(sql, want) {
					t.Errorf("%s: Kafka table lacks %q:\n%s", s.File, want, sql)
				}
			}
		}
	}
	if kafkaTables != 3 {
		t.Errorf("%d Kafka engine tables, want 3 (aggregates, dead letters, alerts)", kafkaTables)
	}
	want := []string{"001_aggregates.sql", "002_dead_letters.sql", "003_alerts.sql", "004_pipeline.sql", "005_operations.sql"}
	if got := slices.Sorted(func(y func(string) bool) {
		for f := range files {
			if !y(f) {
				return
			}
		}
	}); !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
	all := joinSQL(stmts)
	for _, want := range []string{
		"kafka_topic_list = 'agg.window.v1'", "kafka_group_name = 'streamlab-clickhouse.agg'",
		"kafka_topic_list = 'events.dlq.v1'", "kafka_group_name = 'streamlab-clickhouse.dlq'",
		"kafka_topic_list = 'alerts.v1'", "kafka_group_name = 'streamlab-clickhouse.alerts'",
		"ENGINE = ReplacingMergeTree(revision)\nPARTITION BY toYYYYMM(window_start)\nORDER BY (window_start, source_partition)",
		"ORDER BY (source_topic, source_partition, source_offset)",
		"ORDER BY alert_id",
		"ALTER TABLE streamlab.aggregates MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1",
		"ALTER TABLE streamlab.dead_letters MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1",
		"ALTER TABLE streamlab.alerts MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1",
		"ALTER TABLE streamlab.ingest_rejects MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("rendered schema lacks %q", want)
		}
	}
}

func joinSQL(stmts []Statement) string {
	var b strings.Builder
	for _, s := range stmts {
		b.WriteString(s.SQL + ";\n")
	}
	return b.String()
}

// A Kafka table starts consuming when the first view reads from it, and a
// Null table drops whatever no view reads. So every object a view writes to
// or reads from, and every view reading from its target, must exist before
// the view: otherwise the first blocks are consumed, committed and lost.
func TestRenderOrderLosesNothing(t *testing.T) {
	for _, standIn := range []bool{false, true} {
		p := kafkaParams()
		p.StandIn = standIn
		created := map[string]bool{}
		readers := map[string][]string{} // table -> views reading it, in creation order
		stmts := render(t, p)
		type mv struct{ name, target, source string }
		var mvs []mv
		for _, s := range stmts {
			sql := stripComments(s.SQL)
			if m := mvRE.FindStringSubmatch(sql); m != nil {
				mvs = append(mvs, mv{m[1], m[2], m[4]})
			}
		}
		for _, s := range stmts {
			sql := stripComments(s.SQL)
			m := createRE.FindStringSubmatch(sql)
			if m == nil {
				continue
			}
			if v := mvRE.FindStringSubmatch(sql); v != nil {
				name, target, source := v[1], v[2], v[4]
				if !created[target] || !created[source] {
					t.Errorf("view %s is created before its target %s or source %s", name, target, source)
				}
				for _, other := range mvs {
					if other.source == target && !slices.Contains(readers[target], other.name) {
						t.Errorf("view %s feeds %s before %s reads from it", name, target, other.name)
					}
				}
				readers[source] = append(readers[source], name)
			}
			created[m[3]] = true
		}
	}
}

func TestRenderStandIn(t *testing.T) {
	p := DefaultParams()
	p.StandIn = true // no brokers needed
	all := joinSQL(render(t, p))
	if strings.Contains(all, "ENGINE = Kafka") {
		t.Error("stand-in schema still has Kafka engine tables")
	}
	for _, q := range []string{"agg_window_queue", "dead_letters_queue", "alerts_queue"} {
		re := regexp.MustCompile(`CREATE TABLE IF NOT EXISTS streamlab\.` + q + `\s*\(\s*raw\s+String,\s*_topic[^;]*_headers\s+Nested\(name String, value String\)\s*\)\s*ENGINE = Null`)
		if !re.MatchString(all) {
			t.Errorf("stand-in %s is not a Null table with the Kafka engine's columns", q)
		}
	}
}

func TestRenderValidatesParams(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*Params)
		want string
	}{
		{"database", func(p *Params) { p.Database = "stream-lab" }, `database "stream-lab"`},
		{"database injection", func(p *Params) { p.Database = "x; DROP DATABASE y" }, "want an identifier"},
		{"topic", func(p *Params) { p.AggTopic = "agg topic" }, `aggregate topic "agg topic"`},
		{"no brokers", func(p *Params) { p.Brokers = nil }, "no Kafka brokers"},
		{"broker", func(p *Params) { p.Brokers = []string{"kafka"} }, `broker "kafka"`},
		{"group", func(p *Params) { p.ConsumerGroup = "" }, "consumer group"},
		{"flush", func(p *Params) { p.FlushInterval = 0 }, "flush interval"},
	} {
		p := kafkaParams()
		tt.edit(&p)
		_, err := Render(p)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Render error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	// Values that reach SQL strings are escaped, not rejected.
	p := kafkaParams()
	p.ConsumerGroup = `it's\a group`
	p.FlushInterval = 250 * time.Millisecond
	all := joinSQL(render(t, p))
	for _, want := range []string{`kafka_group_name = 'it\'s\\a group.agg'`, "kafka_flush_interval_ms = 250"} {
		if !strings.Contains(all, want) {
			t.Errorf("rendered schema lacks %s", want)
		}
	}
}

func TestRenderFileRejectsUnknownPlaceholder(t *testing.T) {
	data, err := kafkaParams().data()
	if err != nil {
		t.Fatal(err)
	}
	_, err = renderFile(migration{version: 9, file: "009_x.sql", text: "CREATE TABLE {{.Databse}}.x (a Int8) ENGINE = Null;"}, data)
	if err == nil || !strings.Contains(err.Error(), "009_x.sql") {
		t.Errorf("misspelt placeholder: err = %v, want an error naming the file", err)
	}
}

func TestMigrationsAreNumberedAndStable(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.version != i+1 {
			t.Errorf("file %s has version %d, want %d (no gaps)", m.file, m.version, i+1)
		}
		if len(m.checksum) != 64 {
			t.Errorf("checksum of %s = %q", m.file, m.checksum)
		}
	}
	// The checksum covers the template, not the rendering, so deployments
	// with different brokers agree on it.
	again, _ := migrations()
	if ms[0].checksum != again[0].checksum {
		t.Error("checksum is not stable")
	}
}

func TestSplitStatements(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"SELECT 1; SELECT 2", []string{"SELECT 1", "SELECT 2"}},
		{"SELECT ';' ; -- a; comment\nSELECT 2;", []string{"SELECT ';'", "-- a; comment\nSELECT 2"}},
		{"SELECT 'it\\'s;', 'a''b;'; SELECT `x;y`", []string{"SELECT 'it\\'s;', 'a''b;'", "SELECT `x;y`"}},
		{"/* a; /* nested; */ b; */ SELECT 1;;", []string{"/* a; /* nested; */ b; */ SELECT 1"}},
		{"-- only a comment;\n", nil},
		{"", nil},
	} {
		got, err := splitStatements(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitStatements(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"SELECT 'open", "SELECT 1 /* open", "SELECT `x"} {
		if _, err := splitStatements(bad); err == nil {
			t.Errorf("splitStatements(%q) succeeded, want an error", bad)
		}
	}
}

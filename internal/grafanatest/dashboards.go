// Package grafanatest reads the provisioned Grafana dashboards (package
// grafana) for tests, and implements enough of Grafana's and the ClickHouse
// plugin's query interpolation to run every dashboard query outside Grafana,
// against a real ClickHouse engine, exactly as the plugin would send it.
package grafanatest

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
)

// Datasource types and the uids the provisioning files give them.
const (
	ClickHouseType = "grafana-clickhouse-datasource"
	ClickHouseUID  = "clickhouse"
	PrometheusType = "prometheus"
	PrometheusUID  = "prometheus"
)

// DatasourceRef points a panel, query, annotation or variable at a datasource.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Target is one query of a panel (or the query of an annotation), in the
// union of the ClickHouse plugin's and Prometheus' query models.
type Target struct {
	RefID      string         `json:"refId"`
	Datasource *DatasourceRef `json:"datasource"`
	// ClickHouse plugin: the SQL, editorType "sql", format 0 (time series)
	// or 1 (table), queryType "timeseries" or "table".
	RawSQL     string `json:"rawSql"`
	EditorType string `json:"editorType"`
	Format     *int   `json:"format"`
	QueryType  string `json:"queryType"`
	// Prometheus: the expression, and whether Grafana asks for one value
	// at the end of the range (a stat's instant query) instead of a series
	// over it.
	Expr    string `json:"expr"`
	Instant bool   `json:"instant"`
}

// Panel is the part of a dashboard panel the tests look at.
type Panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *DatasourceRef `json:"datasource"`
	GridPos    *struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets     []Target `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Panels []Panel `json:"panels"` // rows may nest panels
}

// Variable is a dashboard template variable.
type Variable struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Datasource *DatasourceRef `json:"datasource"`
	Query      any            `json:"query"` // a string for the ClickHouse plugin
	Multi      bool           `json:"multi"`
	IncludeAll bool           `json:"includeAll"`
}

// Annotation is a dashboard annotation query.
type Annotation struct {
	Name       string         `json:"name"`
	BuiltIn    int            `json:"builtIn"`
	Datasource *DatasourceRef `json:"datasource"`
	Enable     bool           `json:"enable"`
	Target     *Target        `json:"target"`
}

// Dashboard is one dashboard file.
type Dashboard struct {
	File        string `json:"-"`
	UID         string `json:"uid"`
	Title       string `json:"title"`
	Refresh     string `json:"refresh"`
	Timezone    string `json:"timezone"`
	Time        struct{ From, To string }
	Panels      []Panel `json:"panels"`
	Annotations struct {
		List []Annotation `json:"list"`
	} `json:"annotations"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// Dashboards parses every dashboard of fsys (grafana.Files), sorted by file name. Unknown
// JSON fields are ignored; malformed JSON is an error naming the file.
func Dashboards(fsys fs.FS) ([]Dashboard, error) {
	files, err := fs.Glob(fsys, "dashboards/*.json")
	if err != nil {
		return nil, fmt.Errorf("list dashboards: %w", err)
	}
	sort.Strings(files)
	out := make([]Dashboard, 0, len(files))
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		var d Dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", f, err)
		}
		d.File = path.Base(f)
		out = append(out, d)
	}
	return out, nil
}

// DashboardFiles returns the raw bytes of every dashboard by file name.
func DashboardFiles(fsys fs.FS) (map[string][]byte, error) {
	files, err := fs.Glob(fsys, "dashboards/*.json")
	if err != nil {
		return nil, fmt.Errorf("list dashboards: %w", err)
	}
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		out[path.Base(f)] = b
	}
	return out, nil
}

// ProvisioningFile returns a provisioning file by its path below
// provisioning/, e.g. "datasources/datasources.yaml".
func ProvisioningFile(fsys fs.FS, name string) ([]byte, error) {
	b, err := fs.ReadFile(fsys, path.Join("provisioning", name))
	if err != nil {
		return nil, fmt.Errorf("provisioning file %s: %w", name, err)
	}
	return b, nil
}

// AllPanels flattens rows: every panel, nested ones included.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func(ps []Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// Query is one query a dashboard sends: a panel target, an annotation's
// target or a query variable's definition.
type Query struct {
	Dashboard  string // dashboard title
	Source     string // "panel", "annotation" or "variable"
	Title      string // panel title, annotation name or variable name
	RefID      string
	Datasource DatasourceRef
	SQL        string // ClickHouse queries
	Expr       string // Prometheus queries
	Instant    bool   // Prometheus: an instant query rather than a range query
	Format     int    // ClickHouse: 0 time series, 1 table
}

// Queries lists every query of the dashboard. A target without its own
// datasource inherits the panel's, as in Grafana.
func (d *Dashboard) Queries() []Query {
	var out []Query
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			q := Query{Dashboard: d.Title, Source: "panel", Title: p.Title, RefID: t.RefID, SQL: t.RawSQL, Expr: t.Expr, Instant: t.Instant, Format: -1}
			switch {
			case t.Datasource != nil:
				q.Datasource = *t.Datasource
			case p.Datasource != nil:
				q.Datasource = *p.Datasource
			}
			if t.Format != nil {
				q.Format = *t.Format
			}
			out = append(out, q)
		}
	}
	for _, a := range d.Annotations.List {
		if a.BuiltIn != 0 || a.Target == nil {
			continue
		}
		q := Query{Dashboard: d.Title, Source: "annotation", Title: a.Name, RefID: a.Target.RefID, SQL: a.Target.RawSQL, Expr: a.Target.Expr, Format: -1}
		if a.Datasource != nil {
			q.Datasource = *a.Datasource
		}
		if a.Target.Format != nil {
			q.Format = *a.Target.Format
		}
		out = append(out, q)
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := Query{Dashboard: d.Title, Source: "variable", Title: v.Name, Format: 1}
		if s, ok := v.Query.(string); ok {
			q.SQL = s
		}
		if v.Datasource != nil {
			q.Datasource = *v.Datasource
		}
		out = append(out, q)
	}
	return out
}

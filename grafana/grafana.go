// Package grafana holds the provisioned Grafana dashboards and datasources.
// The files are what the Grafana container mounts (docker-compose.yml); they
// are embedded here only so that tests (internal/grafanatest) can read every
// panel and run its query against the real engines.
package grafana

import "embed"

// Files holds dashboards/*.json and provisioning/ as they are on disk.
//
//go:embed dashboards/*.json provisioning
var Files embed.FS

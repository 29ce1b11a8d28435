package cli

import (
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/streamlab/streamlab/internal/topic"
)

func fakeBroker(t *testing.T) (*kfake.Cluster, string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, strings.Join(c.ListenAddrs(), ",")
}

// tableRows returns the table's rows by topic: the fields after the name.
func tableRows(t *testing.T, out string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "TOPIC") {
		t.Fatalf("no table:\n%s", out)
	}
	rows := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) > 1 && strings.Contains(f[0], ".") {
			rows[f[0]] = strings.Join(f[1:], " ")
		}
	}
	return rows
}

func TestTopicsCreatePrintsWhatTheBrokerHas(t *testing.T) {
	c, b := fakeBroker(t)
	n := topic.Defaults()
	code, out, stderr := run(t, "", "topics", "create", "--brokers", b)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows := tableRows(t, out)
	for _, s := range topic.Specs(n, 3, 0) {
		want := "created " + strconv.Itoa(s.Partitions) + " as specified"
		if rows[s.Name] != want {
			t.Errorf("%s: %q, want %q", s.Name, rows[s.Name], want)
		}
	}

	// The broker's truth, not the flags': a raw topic with 5 partitions
	// made by someone else is reported with 5, as a problem.
	if err := c.DeleteTopic(n.Raw); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTopic(n.Raw, 5, map[string]string{"cleanup.policy": "delete"}); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = run(t, "", "topics", "create", "--brokers", b)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	rows = tableRows(t, out)
	if got := rows[n.Raw]; !strings.HasPrefix(got, "exists 5 PROBLEM partitions=5 (want 3)") {
		t.Errorf("raw: %q", got)
	}
	if got := rows[n.DLQ]; got != "exists 3 as specified" {
		t.Errorf("dlq: %q", got)
	}
	if !strings.Contains(stderr, "topic "+n.Raw+": partitions=5 (want 3)") || !strings.Contains(stderr, "fix: pass the existing topics' partition count with --partitions") {
		t.Errorf("stderr should say what is wrong and how to fix it:\n%s", stderr)
	}
}

func TestTopicsCreateReportsAndUpdatesOtherSettings(t *testing.T) {
	c, b := fakeBroker(t)
	n := topic.Defaults()
	if err := c.CreateTopic(n.DLQ, 3, map[string]string{"max.message.bytes": "1048588"}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTopic(n.Agg, 3, map[string]string{"cleanup.policy": "compact,delete"}); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, "", "topics", "create", "--brokers", b)
	if code != 1 || !strings.Contains(stderr, "fix: run again with --update-configs") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows := tableRows(t, out)
	if got := rows[n.DLQ]; !strings.Contains(got, "PROBLEM max.message.bytes=1048588 (want at least 4194304)") {
		t.Errorf("dlq: %q", got)
	}
	if got := rows[n.Agg]; !strings.Contains(got, "cleanup.policy=compact,delete (want delete)") || strings.Contains(got, "PROBLEM") {
		t.Errorf("agg: %q", got)
	}
	if !strings.Contains(out, "--update-configs sets the layout's") {
		t.Errorf("differences without a problem should say how to apply the layout:\n%s", out)
	}

	code, out, stderr = run(t, "", "topics", "create", "--brokers", b, "--update-configs")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows = tableRows(t, out)
	if got := rows[n.DLQ]; !strings.HasPrefix(got, "updated ") || !strings.Contains(got, "max.message.bytes") || !strings.HasSuffix(got, "as specified") {
		t.Errorf("dlq after --update-configs: %q", got)
	}
	if got := rows[n.Raw]; got != "exists 3 as specified" {
		t.Errorf("raw: %q", got)
	}
}

// TestTopicsCreateAgainstADeadBroker: no table (nothing is known), one
// message after the connect timeout.
func TestTopicsCreateAgainstADeadBroker(t *testing.T) {
	code, out, stderr := run(t, "", "topics", "create", "--brokers", "127.0.0.1:1", "--connect-timeout", "300ms")
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	var errLines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(l, "streamlab:") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], "Kafka at 127.0.0.1:1") || !strings.Contains(errLines[0], "gave up after") {
		t.Fatalf("want one error line naming the broker and the timeout:\n%s", stderr)
	}
}

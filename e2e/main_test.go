//go:build e2e

// Package e2e runs the streamlab binary against a real Kafka broker: the
// producer and one or more processors as separate OS processes, then reads
// every output topic back and compares it with the independent oracle
// (internal/oracle) run over the raw log as the broker stored it. See
// README.md for how to run it and what each test proves.
package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binPath is the streamlab binary TestMain builds once for every test.
var binPath string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "streamlab-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %s is not the repository root: %v\n", root, err)
		return 1
	}
	binPath = filepath.Join(dir, "streamlab")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build failed: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// brokers returns the bootstrap address of the broker under test. A missing
// or unreachable broker fails the test: an e2e suite that silently skips
// proves nothing.
func brokers(t testing.TB) string {
	t.Helper()
	b := strings.TrimSpace(os.Getenv("KAFKA_BOOTSTRAP"))
	if b == "" {
		t.Fatal("KAFKA_BOOTSTRAP is not set: start a broker with `eval \"$(scripts/kafka/kafka.sh start)\"` and export KAFKA_BOOTSTRAP")
	}
	for _, addr := range strings.Split(b, ",") {
		conn, err := net.DialTimeout("tcp", strings.TrimSpace(addr), 5*time.Second)
		if err != nil {
			t.Fatalf("KAFKA_BOOTSTRAP=%s: broker %s unreachable: %v", b, addr, err)
		}
		conn.Close()
	}
	return b
}

// testContext is cancelled shortly before the test binary's -timeout so
// that a hang fails one test with a message instead of a goroutine dump.
func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	if dl, ok := t.Deadline(); ok && time.Until(dl)-10*time.Second < d {
		d = time.Until(dl) - 10*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

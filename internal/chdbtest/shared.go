package chdbtest

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
)

// EnvLib names the environment variable holding the path of libchdb.so.
const EnvLib = "STREAMLAB_LIBCHDB"

// One engine per test binary: chDB documents repeated shutdown/boot cycles
// as fragile, so every test of a binary shares this connection and works in
// its own database.
var shared struct {
	once sync.Once
	conn *Conn
	dir  string
	err  error
}

// Shared returns the test binary's engine, booting it on first use from the
// library named by $STREAMLAB_LIBCHDB. It fails the test (never skips) when
// the library is missing: a chdb-tagged test that silently skipped would
// prove nothing.
func Shared(t testing.TB) *Conn {
	t.Helper()
	shared.once.Do(func() {
		lib := os.Getenv(EnvLib)
		if lib == "" {
			shared.err = errors.New(EnvLib + ` is not set: run eval "$(scripts/chdb/install.sh)" && export ` + EnvLib)
			return
		}
		if shared.dir, shared.err = os.MkdirTemp("", "streamlab-chdb-test-"); shared.err != nil {
			return
		}
		shared.conn, shared.err = Open(lib, shared.dir)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.conn
}

// Main is a TestMain for packages that use Shared: it runs the tests, then
// shuts the engine down and removes its data directory.
//
//	func TestMain(m *testing.M) { chdbtest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if shared.conn != nil {
		if err := shared.conn.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "close chdb:", err)
			code = 1
		}
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// Package chdbtest runs the real ClickHouse engine inside the current process
// through chDB's libchdb.so, so the ClickHouse schema, materialized views and
// dashboard queries can be tested without a server or Docker.
//
// The library is loaded at run time with purego instead of cgo: the binary
// still builds with CGO_ENABLED=0 and only code that calls Open needs the
// ~570 MB library (scripts/chdb/install.sh fetches it).
//
// chDB runs one engine per process, bound to one data directory. Several
// connections to that directory may be open at once; opening one for another
// directory fails until every connection is closed. Closing the last
// connection shuts the engine down; the next Open boots it again (tens of
// ms), but chDB documents repeated shutdown/boot cycles as fragile, so a test
// binary should open one Conn in TestMain and share it.
package chdbtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/ebitengine/purego"
)

// api holds the libchdb entry points. Prototypes are from chdb.h of chDB
// 26.7.3 (programs/local/chdb.h in chdb-io/chdb); the npm package ships no
// header. Handles stay unsafe.Pointer because they point into C memory that
// Go never dereferences except for the one documented indirection in Open.
type api struct {
	// const char * chdb_version(void)
	version func() string
	// void chdb_set_signal_handlers_enabled(int enabled)
	setSignalHandlersEnabled func(enabled int32)
	// chdb_connection * chdb_connect(int argc, char ** argv)
	connect func(argc int32, argv **byte) unsafe.Pointer
	// void chdb_close_conn(chdb_connection * conn)
	closeConn func(conn unsafe.Pointer)
	// chdb_result * chdb_query_n(chdb_connection conn, const char * query,
	//     size_t query_len, const char * format, size_t format_len)
	queryN func(conn unsafe.Pointer, query *byte, queryLen uintptr, format *byte, formatLen uintptr) unsafe.Pointer
	// char * chdb_result_buffer(chdb_result * result)
	resultBuffer func(res unsafe.Pointer) *byte
	// size_t chdb_result_length(chdb_result * result)
	resultLength func(res unsafe.Pointer) uintptr
	// const char * chdb_result_error(chdb_result * result)
	resultError func(res unsafe.Pointer) *byte
	// void chdb_destroy_query_result(chdb_result * result)
	destroyQueryResult func(res unsafe.Pointer)
}

// engine is the process-wide chDB state: the loaded library and the data
// directory the engine was booted with.
var engine struct {
	mu      sync.Mutex
	libPath string
	api     *api
	dataDir string
	open    int // connections currently open
}

// load dlopens libchdb once per process. A second, different path is an
// error rather than a silent reuse: two copies of the engine cannot coexist.
func load(libPath string) (*api, error) {
	if libPath == "" {
		return nil, errors.New("chdb: no libchdb path given (set STREAMLAB_LIBCHDB; scripts/chdb/install.sh prints it)")
	}
	abs, err := filepath.Abs(libPath)
	if err != nil {
		return nil, fmt.Errorf("chdb: resolve library path %q: %w", libPath, err)
	}
	if engine.api != nil {
		if abs != engine.libPath {
			return nil, fmt.Errorf("chdb: library %s already loaded, cannot also load %s", engine.libPath, abs)
		}
		return engine.api, nil
	}
	if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("chdb: libchdb not found (run scripts/chdb/install.sh): %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("chdb: %s is not a shared library file", abs)
	}
	h, err := purego.Dlopen(abs, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("chdb: dlopen %s: %w", abs, err)
	}
	a, err := register(h)
	if err != nil {
		return nil, fmt.Errorf("chdb: %s: %w", abs, err)
	}
	engine.libPath, engine.api = abs, a
	return a, nil
}

func register(h uintptr) (a *api, err error) {
	// RegisterLibFunc panics on a missing symbol; an older or foreign
	// library should produce an error, not crash the caller.
	defer func() {
		if r := recover(); r != nil {
			a, err = nil, fmt.Errorf("incompatible libchdb: %v", r)
		}
	}()
	a = &api{}
	purego.RegisterLibFunc(&a.version, h, "chdb_version")
	purego.RegisterLibFunc(&a.setSignalHandlersEnabled, h, "chdb_set_signal_handlers_enabled")
	purego.RegisterLibFunc(&a.connect, h, "chdb_connect")
	purego.RegisterLibFunc(&a.closeConn, h, "chdb_close_conn")
	purego.RegisterLibFunc(&a.queryN, h, "chdb_query_n")
	purego.RegisterLibFunc(&a.resultBuffer, h, "chdb_result_buffer")
	purego.RegisterLibFunc(&a.resultLength, h, "chdb_result_length")
	purego.RegisterLibFunc(&a.resultError, h, "chdb_result_error")
	purego.RegisterLibFunc(&a.destroyQueryResult, h, "chdb_destroy_query_result")
	return a, nil
}

// memoryPath stands for chDB's in-memory mode in DataDir and error messages.
const memoryPath = ":memory:"

// connectArgv is the argv for chdb_connect. In-memory mode is chDB's default
// when --path is absent; "--path=:memory:" would instead create a directory
// named ":memory:" in the working directory.
func connectArgv(path string) []string {
	argv := []string{"clickhouse"}
	if path != memoryPath {
		argv = append(argv, "--path="+path)
	}
	return append(argv,
		// Query-level settings, applied to this connection only.
		// JSONEachRow quotes (U)Int64 by default; unquoted they decode as
		// json.Number like every other number, so callers need one code path.
		"--output_format_json_quote_64bit_integers=0",
	)
}

// Conn is one chDB connection. Its methods are safe for concurrent use;
// statements run one at a time because a chDB connection executes a single
// statement at a time.
type Conn struct {
	api *api
	// sem serialises statements. A channel rather than a mutex so a caller
	// waiting behind a long statement can give up when its context ends.
	sem     chan struct{}
	connPtr unsafe.Pointer // chdb_connection *, owned by libchdb
	conn    unsafe.Pointer // chdb_connection, what the query functions take
	dataDir string
	closed  bool // guarded by sem
}

// Open loads libchdb from libPath (once per process) and connects to the
// engine with its data in dataDir, which is created if missing. The first
// connection boots the engine (~0.1–0.4 s); later connections to the same
// directory share it. An empty dataDir means chDB's ":memory:" mode.
func Open(libPath, dataDir string) (*Conn, error) {
	path := memoryPath
	if dataDir != "" {
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return nil, fmt.Errorf("chdb: resolve data dir %q: %w", dataDir, err)
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, fmt.Errorf("chdb: create data dir: %w", err)
		}
		path = abs
	}

	engine.mu.Lock()
	defer engine.mu.Unlock()
	a, err := load(libPath)
	if err != nil {
		return nil, err
	}
	if engine.open > 0 && engine.dataDir != path {
		return nil, fmt.Errorf("chdb: engine is running on %s with %d open connection(s); close them before opening %s",
			engine.dataDir, engine.open, path)
	}
	if engine.open == 0 {
		// Go owns the process's signal handlers (SIGSEGV → panic, SIGURG
		// → preemption). With ClickHouse's crash handlers installed, a nil
		// dereference in Go code hangs the process inside the engine's
		// handler instead of panicking (TestGoPanicsSurviveEngine). The
		// flag is sticky; setting it before every boot keeps it order-proof.
		a.setSignalHandlersEnabled(0)
	}

	connPtr := callConnect(a, connectArgv(path))
	if connPtr == nil {
		return nil, fmt.Errorf("chdb: chdb_connect(%s) returned no connection", path)
	}
	c := &Conn{
		api:     a,
		sem:     make(chan struct{}, 1),
		connPtr: connPtr,
		conn:    *(*unsafe.Pointer)(connPtr),
		dataDir: path,
	}
	engine.open++
	engine.dataDir = path
	return c, nil
}

// callConnect builds a C argv from Go memory. chdb_connect copies its
// arguments, but the strings and the pointer array must not move or be
// collected during the call; pinning states that explicitly.
func callConnect(a *api, args []string) unsafe.Pointer {
	var pin runtime.Pinner
	defer pin.Unpin()
	cargs := make([]*byte, len(args)+1) // argv[argc] == NULL, as for main()
	for i, s := range args {
		b := cString(s)
		pin.Pin(&b[0])
		cargs[i] = &b[0]
	}
	pin.Pin(&cargs[0])
	return a.connect(int32(len(args)), &cargs[0])
}

// cString returns s as a NUL-terminated byte slice in Go memory.
func cString(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

// Version reports the version of the loaded libchdb, e.g. "26.7.3".
func (c *Conn) Version() string { return c.api.version() }

// DataDir is the engine's data directory, or ":memory:".
func (c *Conn) DataDir() string { return c.dataDir }

// ErrClosed is returned by statements on a closed Conn.
var ErrClosed = errors.New("chdb: connection closed")

// Query runs SQL and returns its output in the given ClickHouse output
// format (e.g. "JSONEachRow", "CSV"; empty means "TabSeparated") copied into
// Go memory. A FORMAT clause in the SQL wins over format. An engine error
// comes back as an *Error carrying chDB's message.
//
// chDB accepts several ';'-separated statements in one call and stops at the
// first failing one, but an INSERT with inline data swallows everything after
// it as data; ExecScript splits scripts so that never happens.
//
// chDB cannot interrupt a running statement. When ctx ends first, Query
// returns ctx.Err() at once, the statement runs to completion in the
// background (its effects, e.g. of an INSERT, still happen) and the
// connection stays busy until then.
func (c *Conn) Query(ctx context.Context, sql, format string) ([]byte, error) {
	if format == "" {
		// chdb_query_n has no default and fails with "Unknown format".
		format = "TabSeparated"
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c.closed {
		<-c.sem
		return nil, ErrClosed
	}

	type outcome struct {
		out []byte
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() { <-c.sem }()
		out, err := c.run(sql, format)
		done <- outcome{out, err}
	}()
	select {
	case o := <-done:
		return o.out, o.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run executes one statement; the caller holds sem.
func (c *Conn) run(sql, format string) ([]byte, error) {
	q := cString(sql)
	f := cString(format)
	res := c.api.queryN(c.conn, &q[0], uintptr(len(sql)), &f[0], uintptr(len(format)))
	runtime.KeepAlive(q)
	runtime.KeepAlive(f)
	if res == nil {
		return nil, errors.New("chdb: chdb_query_n returned no result")
	}
	defer c.api.destroyQueryResult(res)

	if e := c.api.resultError(res); e != nil {
		return nil, &Error{Msg: goString(e)}
	}
	n := int(c.api.resultLength(res))
	buf := c.api.resultBuffer(res)
	if n == 0 || buf == nil {
		return nil, nil
	}
	// The buffer belongs to the result, which is destroyed on return.
	return bytes.Clone(unsafe.Slice(buf, n)), nil
}

// goString copies a NUL-terminated C string into Go memory.
func goString(p *byte) string {
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// Error is an error reported by the ClickHouse engine for a statement.
type Error struct {
	Msg string // chDB's message, e.g. "Code: 60. DB::Exception: Unknown table ..."
}

func (e *Error) Error() string { return "chdb: " + e.Msg }

// Exec runs a statement that returns no rows: DDL, INSERT (including
// INSERT ... FORMAT JSONEachRow with the data inline), OPTIMIZE, SET.
func (c *Conn) Exec(ctx context.Context, query string) error {
	// Null discards any rows, so an Exec'd SELECT costs no copy.
	_, err := c.Query(ctx, query, "Null")
	return err
}

// QueryJSON runs a SELECT and returns its rows, fetched as JSONEachRow.
// Numbers, including (U)Int64, come back as json.Number so no precision is
// lost; Map columns come back as map[string]any, DateTime64 as strings,
// NULL and NaN as nil. The query must not carry its own FORMAT clause.
func (c *Conn) QueryJSON(ctx context.Context, query string) ([]map[string]any, error) {
	out, err := c.Query(ctx, query, "JSONEachRow")
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	rows := []map[string]any{}
	for {
		var row map[string]any
		if err := dec.Decode(&row); errors.Is(err, io.EOF) {
			return rows, nil
		} else if err != nil {
			return nil, fmt.Errorf("chdb: decode JSONEachRow row %d: %w", len(rows), err)
		}
		rows = append(rows, row)
	}
}

// ExecScript runs every statement of a SQL script in order (see
// SplitStatements) and stops at the first failure, naming the statement.
func (c *Conn) ExecScript(ctx context.Context, sql string) error {
	stmts, err := SplitStatements(sql)
	if err != nil {
		return err
	}
	for i, s := range stmts {
		if err := c.Exec(ctx, s); err != nil {
			return fmt.Errorf("statement %d (%s): %w", i+1, abbreviate(s, 80), err)
		}
	}
	return nil
}

func abbreviate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// Close closes the connection, waiting for a statement still running. The
// last Close shuts the engine down. Closing twice is harmless.
func (c *Conn) Close() error {
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	if c.closed {
		return nil
	}
	c.closed = true

	engine.mu.Lock()
	defer engine.mu.Unlock()
	c.api.closeConn(c.connPtr)
	c.connPtr, c.conn = nil, nil
	engine.open--
	return nil
}

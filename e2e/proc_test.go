//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logBuffer collects a child's stdout and stderr; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns the last n lines.
func (b *logBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d earlier lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// proc is one streamlab role running as its own OS process.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *logBuffer
	done chan struct{}
	err  error // Wait's result, valid once done is closed
}

// childEnv is the test's environment without STREAMLAB_* variables, so a
// developer's shell settings cannot change what a role does under test.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STREAMLAB_") {
			env = append(env, kv)
		}
	}
	return env
}

// startRole starts `streamlab args...`. The process is SIGKILLed at the end
// of the test if still running, and its output goes to the test log when the
// test failed.
func startRole(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startProgram(t, name, binPath, args...)
}

// startProgram is startRole for any program (a Prometheus server, say).
func startProgram(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &logBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = childEnv()
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.running() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- output of %s (pid %d, %s) ---\n%s", p.name, p.cmd.Process.Pid, p.state(), p.out.tail(150))
		}
	})
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) state() string {
	if p.running() {
		return "running"
	}
	return p.cmd.ProcessState.String()
}

// maxErrorLines is how many ERROR log lines a role may print before the
// test calls it stuck: a transient error is retried, but a replica that
// fails the same way over and over makes no progress (G5).
const maxErrorLines = 20

// alive returns an error when the process has exited or keeps failing.
func (p *proc) alive() error {
	if !p.running() {
		return fmt.Errorf("%s exited unexpectedly (%s); last output:\n%s", p.name, p.state(), p.out.tail(40))
	}
	var errs []string
	for _, line := range strings.Split(p.out.String(), "\n") {
		if strings.Contains(line, "level=ERROR") {
			errs = append(errs, line)
		}
	}
	if len(errs) >= maxErrorLines {
		return fmt.Errorf("%s is stuck in an error loop (%d ERROR lines); the first:\n%s\nthe last:\n%s", p.name, len(errs), errs[0], errs[len(errs)-1])
	}
	return nil
}

// wait waits up to d for the process to exit and returns its Wait error.
func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		t.Fatalf("%s did not exit within %s; last output:\n%s", p.name, d, p.out.tail(40))
		return nil
	}
}

// stop sends SIGTERM and requires a clean exit (status 0) within d.
func (p *proc) stop(t *testing.T, d time.Duration) {
	t.Helper()
	if err := p.terminate(d); err != nil {
		t.Fatal(err)
	}
}

// terminate is stop without the test: safe to call from any goroutine.
func (p *proc) terminate(d time.Duration) error {
	if !p.running() {
		return fmt.Errorf("%s was no longer running when it was to be stopped (%s); last output:\n%s", p.name, p.state(), p.out.tail(40))
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM %s: %w", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(d):
		return fmt.Errorf("%s did not exit within %s of SIGTERM; last output:\n%s", p.name, d, p.out.tail(40))
	}
	if p.err != nil {
		return fmt.Errorf("%s after SIGTERM: %w (want exit 0); last output:\n%s", p.name, p.err, p.out.tail(40))
	}
	return nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if !p.running() {
		t.Fatalf("%s was no longer running when it was to be killed (%s); last output:\n%s", p.name, p.state(), p.out.tail(40))
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("SIGKILL %s: %v", p.name, err)
	}
	<-p.done
}

// cpu returns the user+system CPU time of an exited process.
func (p *proc) cpu() time.Duration {
	return p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
}

// runRole runs a role to completion and fails the test unless it exits 0.
func runRole(t *testing.T, name string, d time.Duration, args ...string) *proc {
	t.Helper()
	p := startRole(t, name, args...)
	if err := p.wait(t, d); err != nil {
		t.Fatalf("%s: %v; output:\n%s", name, err, p.out.tail(60))
	}
	return p
}

// waitLog waits until the process output matches re at least n times.
func (p *proc) waitLog(t *testing.T, re *regexp.Regexp, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for len(re.FindAllStringIndex(p.out.String(), -1)) < n {
		if err := p.alive(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q did not appear %d times within %s; last output:\n%s", p.name, re, n, d, p.out.tail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var metricsAddrRE = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)

// metricsAddr returns the address the role's metrics server bound to, for
// roles started with --metrics-addr 127.0.0.1:0.
func (p *proc) metricsAddr(t *testing.T) string {
	t.Helper()
	p.waitLog(t, metricsAddrRE, 1, 30*time.Second)
	return metricsAddrRE.FindStringSubmatch(p.out.String())[1]
}

// procCPU reads utime+stime of any process from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after its
	// closing parenthesis are space-separated, utime and stime are 14 and 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ut, st int64
	if _, err := fmt.Sscan(f[11], &ut); err != nil {
		return 0, err
	}
	if _, err := fmt.Sscan(f[12], &st); err != nil {
		return 0, err
	}
	// USER_HZ is 100 on every Linux ABI Go supports.
	return time.Duration(ut+st) * (time.Second / 100), nil
}

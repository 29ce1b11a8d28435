package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
)

// ThreadCPU is the CPU time of the threads of one name.
type ThreadCPU struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// RunResult is one measured run, one JSON line in the results file.
type RunResult struct {
	Impl      string `json:"impl"`
	Round     int    `json:"round"`
	Group     string `json:"group"`
	Events    int64  `json:"events"`
	CPUPinned string `json:"cpu_pinned"`
	// From the start of the process to the poll that saw every partition's end
	// offset committed.
	WallSeconds    float64 `json:"wall_seconds"`
	EventsPerSec   float64 `json:"events_per_sec"`
	CPUSeconds     float64 `json:"cpu_seconds"` // utime+stime of the process at that moment
	CPUUsPerEvent  float64 `json:"cpu_us_per_event"`
	EventsPerCPUS  float64 `json:"events_per_cpu_sec"`
	PeakRSSMB      float64 `json:"peak_rss_mb"` // VmHWM at that moment
	BrokerCPUSec   float64 `json:"broker_cpu_seconds"`
	BrokerUsPerEvt float64 `json:"broker_cpu_us_per_event"`
	// Shutdown (SIGTERM: flush, final checkpoint/commit) is not in the figures above.
	StopSeconds float64 `json:"stop_seconds"`
	// Steady state: between the polls that saw 10 % and 90 % of the input
	// committed (no process start, no JIT warm-up, no wait for the last commit).
	// Zero when the commits were too coarse to see both points apart.
	SteadyEventsPerSec  float64 `json:"steady_events_per_sec"`
	SteadyCPUUsPerEvent float64 `json:"steady_cpu_us_per_event"`
	ExitCode            int     `json:"exit_code"`
	// CPU seconds per thread name (digits dropped) at completion, largest first.
	Threads []ThreadCPU `json:"threads,omitempty"`
}

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	brokers := fs.String("brokers", "", "bootstrap brokers")
	group := fs.String("group", "", "consumer group (Kafka Streams: the application.id)")
	topic := fs.String("topic", "", "input topic")
	cpu := fs.String("cpu", "1", "taskset CPU list to pin the process to (empty: no pinning)")
	brokerPIDFile := fs.String("broker-pid-file", "", "the broker's pid file, to measure its CPU during the run")
	impl := fs.String("impl", "", "label of the implementation")
	round := fs.Int("round", 0, "round number")
	logPath := fs.String("log", "", "file for the process's stdout and stderr")
	out := fs.String("out", "", "append the result as a JSON line to this file")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	stopTimeout := fs.Duration("stop-timeout", 2*time.Minute, "SIGKILL after SIGTERM was ignored this long")
	killAt := fs.Int64("kill-at", 0, "crash check: SIGKILL the process once its group has committed this many messages in all (no measurement)")
	fs.Parse(args)
	cmdArgs := fs.Args()
	if *brokers == "" || *group == "" || *topic == "" || len(cmdArgs) == 0 {
		return errors.New("run: --brokers, --group, --topic and a command after -- are required")
	}
	ctx := context.Background()
	parts, err := partitions(ctx, *brokers, *topic)
	if err != nil {
		return err
	}
	end, err := endOffsets(ctx, *brokers, *topic, parts)
	if err != nil {
		return err
	}
	var events int64
	for _, e := range end {
		events += e
	}
	brokerPID := 0
	if *brokerPIDFile != "" {
		if brokerPID, err = readPIDFile(*brokerPIDFile); err != nil {
			return fmt.Errorf("broker pid: %w", err)
		}
	}
	if *cpu != "" {
		cmdArgs = append([]string{"taskset", "-c", *cpu}, cmdArgs...)
	}
	cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	var broker0 time.Duration
	if brokerPID > 0 {
		if broker0, err = procCPU(brokerPID); err != nil {
			return fmt.Errorf("broker CPU: %w", err)
		}
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", strings.Join(cmdArgs, " "), err)
	}
	// taskset execs the command: the pid is the processor's own.
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := t0.Add(*timeout)
	var last string
	type mark struct {
		at        time.Time
		cpu       time.Duration
		committed int64
	}
	var m10, m90 *mark
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("%s exited before consuming %s (%s): %v; see %s", *impl, *topic, last, err, *logPath)
		case <-time.After(100 * time.Millisecond):
		}
		got, err := committed(ctx, *brokers, *group, *topic, parts)
		if err != nil {
			last = err.Error()
		} else {
			done := true
			var sum int64
			for _, p := range parts {
				if got[p] < end[p] {
					done = false
				}
				sum += max(got[p], 0)
			}
			if (m10 == nil && sum*10 >= events) || (m90 == nil && sum*10 >= events*9) {
				if c, err := procCPU(pid); err == nil {
					mk := &mark{time.Now(), c, sum}
					if m10 == nil {
						m10 = mk
					} else {
						m90 = mk
					}
				}
			}
			if *killAt > 0 && sum >= *killAt {
				cmd.Process.Kill()
				<-exited
				fmt.Fprintf(os.Stderr, "benchtool: %s SIGKILLed at %d committed (%v of %v)\n", *impl, sum, got, end)
				return nil
			}
			if done {
				break
			}
			last = fmt.Sprintf("committed %v of %v", got, end)
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return fmt.Errorf("%s did not consume %s within %s (%s)", *impl, *topic, *timeout, last)
		}
	}
	wall := time.Since(t0)
	res := RunResult{Impl: *impl, Round: *round, Group: *group, Events: events, CPUPinned: *cpu, WallSeconds: wall.Seconds()}
	used, err := procCPU(pid)
	if err != nil {
		return err
	}
	if th, err := threadCPU(pid); err == nil {
		for n, d := range th {
			if d > 0 {
				res.Threads = append(res.Threads, ThreadCPU{n, d.Seconds()})
			}
		}
		sort.Slice(res.Threads, func(i, j int) bool { return res.Threads[i].Seconds > res.Threads[j].Seconds })
		if len(res.Threads) > 8 {
			res.Threads = res.Threads[:8]
		}
	}
	hwm, err := procStatusKB(pid, "VmHWM")
	if err != nil {
		return err
	}
	if brokerPID > 0 {
		b1, err := procCPU(brokerPID)
		if err != nil {
			return err
		}
		res.BrokerCPUSec = (b1 - broker0).Seconds()
		res.BrokerUsPerEvt = float64((b1 - broker0).Microseconds()) / float64(events)
	}
	res.CPUSeconds = used.Seconds()
	res.CPUUsPerEvent = float64(used.Microseconds()) / float64(events)
	res.EventsPerSec = float64(events) / wall.Seconds()
	res.EventsPerCPUS = float64(events) / used.Seconds()
	res.PeakRSSMB = float64(hwm) / 1024
	if m10 != nil && m90 != nil && m90.committed > m10.committed && m90.at.After(m10.at) {
		n := float64(m90.committed - m10.committed)
		res.SteadyEventsPerSec = n / m90.at.Sub(m10.at).Seconds()
		res.SteadyCPUUsPerEvent = float64((m90.cpu - m10.cpu).Microseconds()) / n
	}

	// Stop: SIGTERM makes both flush the windows the watermark has not passed
	// and commit; their outputs are compared afterwards.
	t1 := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(*stopTimeout):
		cmd.Process.Kill()
		<-exited
		fmt.Fprintf(os.Stderr, "benchtool: %s ignored SIGTERM for %s; killed\n", *impl, *stopTimeout)
	}
	res.StopSeconds = time.Since(t1).Seconds()
	res.ExitCode = cmd.ProcessState.ExitCode()

	line, _ := json.Marshal(res)
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		fmt.Fprintln(f, string(line))
		f.Close()
	}
	fmt.Fprintf(os.Stderr, "benchtool: %-10s round %d: %d events in %.2fs wall (%.0f/s), CPU %.2fs = %.2f µs/event, peak RSS %.0f MB, broker CPU %.2fs; steady state %.0f/s, %.2f µs/event; stopped in %.1fs (exit %d)\n",
		res.Impl, res.Round, events, res.WallSeconds, res.EventsPerSec, res.CPUSeconds, res.CPUUsPerEvent, res.PeakRSSMB, res.BrokerCPUSec,
		res.SteadyEventsPerSec, res.SteadyCPUUsPerEvent, res.StopSeconds, res.ExitCode)
	var th []string
	for _, t := range res.Threads {
		th = append(th, fmt.Sprintf("%s %.2fs", t.Name, t.Seconds))
	}
	fmt.Fprintf(os.Stderr, "benchtool: %-10s threads: %s\n", res.Impl, strings.Join(th, ", "))
	if res.ExitCode != 0 {
		return fmt.Errorf("%s exited with %d after SIGTERM; see %s", *impl, res.ExitCode, *logPath)
	}
	return nil
}

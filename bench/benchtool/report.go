package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// NaiveResult is one line printed by bench/naive.
type NaiveResult struct {
	Round         int     `json:"round"`
	Lines         int64   `json:"lines"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	WallSeconds   float64 `json:"wall_seconds"`
	CPUUsPerEvent float64 `json:"cpu_us_per_event"`
	EventsPerCPUS float64 `json:"events_per_cpu_sec"`
}

var implNames = map[string]string{
	"streamlab": "streamlab processor",
	"ks-alos":   "Kafka Streams, at_least_once",
	"ks-eos":    "Kafka Streams, exactly_once_v2",
}

func cmdReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	runs := fs.String("runs", "", "JSON lines of benchtool run")
	naive := fs.String("naive", "", "JSON lines of bench/naive (one per round, with \"round\")")
	title := fs.String("title", "", "heading")
	fs.Parse(args)
	if *runs == "" {
		return errors.New("report: --runs is required")
	}
	var rs []RunResult
	if err := readLines(*runs, &rs); err != nil {
		return err
	}
	var ns []NaiveResult
	if *naive != "" {
		if err := readLines(*naive, &ns); err != nil {
			return err
		}
	}
	writeReport(os.Stdout, *title, rs, ns)
	return nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func pick[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func writeReport(w io.Writer, title string, rs []RunResult, ns []NaiveResult) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	if title != "" {
		fmt.Fprintf(bw, "### %s\n\n", title)
	}
	by := map[string][]RunResult{}
	var order []string
	for _, r := range rs {
		if _, ok := by[r.Impl]; !ok {
			order = append(order, r.Impl)
		}
		by[r.Impl] = append(by[r.Impl], r)
	}
	slices.SortStableFunc(order, func(a, b string) int { return rank(a) - rank(b) })

	fmt.Fprintln(bw, "Medians over the rounds; each process pinned to one core (taskset), the broker to the other.")
	fmt.Fprintln(bw)
	fmt.Fprintln(bw, "| implementation | runs | wall s | events/s | CPU s | CPU µs/event | events per CPU-second | steady events/s | steady CPU µs/event | peak RSS MB | broker CPU µs/event |")
	fmt.Fprintln(bw, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, impl := range order {
		x := by[impl]
		fmt.Fprintf(bw, "| %s | %d | %.2f | %.0f | %.2f | %.2f | %.0f | %s | %s | %.0f | %.2f |\n", name(impl), len(x),
			median(pick(x, func(r RunResult) float64 { return r.WallSeconds })),
			median(pick(x, func(r RunResult) float64 { return r.EventsPerSec })),
			median(pick(x, func(r RunResult) float64 { return r.CPUSeconds })),
			median(pick(x, func(r RunResult) float64 { return r.CPUUsPerEvent })),
			median(pick(x, func(r RunResult) float64 { return r.EventsPerCPUS })),
			orDash(median(pick(x, func(r RunResult) float64 { return r.SteadyEventsPerSec })), "%.0f"),
			orDash(median(pick(x, func(r RunResult) float64 { return r.SteadyCPUUsPerEvent })), "%.2f"),
			median(pick(x, func(r RunResult) float64 { return r.PeakRSSMB })),
			median(pick(x, func(r RunResult) float64 { return r.BrokerUsPerEvt })))
	}
	if len(ns) > 0 {
		fmt.Fprintf(bw, "| naive loop (encoding/json → map[string]any, decode only) | %d | %.2f | %.0f | %.2f | %.2f | %.0f | – | – | – | – |\n", len(ns),
			median(pick(ns, func(n NaiveResult) float64 { return n.WallSeconds })),
			median(pick(ns, func(n NaiveResult) float64 { return float64(n.Lines) / n.WallSeconds })),
			median(pick(ns, func(n NaiveResult) float64 { return n.CPUSeconds })),
			median(pick(ns, func(n NaiveResult) float64 { return n.CPUUsPerEvent })),
			median(pick(ns, func(n NaiveResult) float64 { return n.EventsPerCPUS })))
	}
	fmt.Fprintln(bw)

	// Ratios: of the medians, and the median of the per-round ratios (the
	// runs of a round ran back to back, so they saw similar machine load).
	perRound := func(a, b string, f func(RunResult) float64) []float64 {
		var out []float64
		for _, x := range by[a] {
			for _, y := range by[b] {
				if x.Round == y.Round && f(y) != 0 {
					out = append(out, f(x)/f(y))
				}
			}
		}
		return out
	}
	eps := func(r RunResult) float64 { return r.EventsPerSec }
	epc := func(r RunResult) float64 { return r.EventsPerCPUS }
	seps := func(r RunResult) float64 { return r.SteadyEventsPerSec }
	fmt.Fprintln(bw, "| ratio | of the medians | median of the per-round ratios |")
	fmt.Fprintln(bw, "|---|---:|---:|")
	for _, other := range []string{"ks-alos", "ks-eos"} {
		if len(by["streamlab"]) == 0 || len(by[other]) == 0 {
			continue
		}
		fmt.Fprintf(bw, "| streamlab ÷ %s: events/s (wall, one core each) | %.2f× | %.2f× |\n", name(other),
			median(pick(by["streamlab"], eps))/median(pick(by[other], eps)), median(perRound("streamlab", other, eps)))
		fmt.Fprintf(bw, "| streamlab ÷ %s: events per CPU-second | %.2f× | %.2f× |\n", name(other),
			median(pick(by["streamlab"], epc))/median(pick(by[other], epc)), median(perRound("streamlab", other, epc)))
		if ss := pick(by["streamlab"], seps); median(ss) > 0 && median(pick(by[other], seps)) > 0 {
			fmt.Fprintf(bw, "| streamlab ÷ %s: steady-state events/s | %.2f× | %.2f× |\n", name(other),
				median(ss)/median(pick(by[other], seps)), median(perRound("streamlab", other, seps)))
		}
	}
	if len(ns) > 0 {
		naive := median(pick(ns, func(n NaiveResult) float64 { return n.CPUUsPerEvent }))
		naiveByRound := map[int]float64{}
		for _, n := range ns {
			naiveByRound[n.Round] = n.CPUUsPerEvent
		}
		for _, impl := range order {
			var rr []float64
			for _, r := range by[impl] {
				if v, ok := naiveByRound[r.Round]; ok && v > 0 {
					rr = append(rr, r.CPUUsPerEvent/v)
				}
			}
			ratio := median(pick(by[impl], func(r RunResult) float64 { return r.CPUUsPerEvent })) / naive
			target := ""
			if impl == "streamlab" {
				target = " — target ≤ 0.6×: **missed**"
				if ratio <= 0.6 {
					target = " — target ≤ 0.6×: **met**"
				}
			}
			fmt.Fprintf(bw, "| %s CPU/event ÷ naive loop CPU/event%s | %.2f× | %.2f× |\n", name(impl), target, ratio, median(rr))
		}
		for _, impl := range order {
			var rr []float64
			for _, r := range by[impl] {
				if v, ok := naiveByRound[r.Round]; ok && v > 0 && r.SteadyCPUUsPerEvent > 0 {
					rr = append(rr, r.SteadyCPUUsPerEvent/v)
				}
			}
			if len(rr) == 0 {
				continue
			}
			fmt.Fprintf(bw, "| %s steady-state CPU/event ÷ naive loop CPU/event | %.2f× | %.2f× |\n", name(impl),
				median(pick(by[impl], func(r RunResult) float64 { return r.SteadyCPUUsPerEvent }))/naive, median(rr))
		}
	}
	fmt.Fprintln(bw)
	// Where the CPU went, per thread name (digits dropped: GC and compiler
	// workers add up), median over the runs, per event.
	fmt.Fprintln(bw, "CPU by thread at completion, median over the runs, µs/event (largest 6):")
	fmt.Fprintln(bw)
	for _, impl := range order {
		per := map[string][]float64{}
		for _, r := range by[impl] {
			for _, t := range r.Threads {
				per[t.Name] = append(per[t.Name], t.Seconds*1e6/float64(r.Events))
			}
		}
		names := make([]string, 0, len(per))
		for n := range per {
			names = append(names, n)
		}
		slices.SortFunc(names, func(a, b string) int {
			ma, mb := median(per[a]), median(per[b])
			switch {
			case ma > mb:
				return -1
			case ma < mb:
				return 1
			}
			return strings.Compare(a, b)
		})
		var parts []string
		for i, n := range names {
			if i == 6 {
				break
			}
			parts = append(parts, fmt.Sprintf("%s %.1f", strings.TrimSpace(n), median(per[n])))
		}
		if len(parts) > 0 {
			fmt.Fprintf(bw, "- %s: %s\n", name(impl), strings.Join(parts, ", "))
		}
	}
	fmt.Fprintln(bw)
	fmt.Fprintln(bw, "<details><summary>every run</summary>")
	fmt.Fprintln(bw)
	fmt.Fprintln(bw, "| round | implementation | wall s | events/s | CPU s | CPU µs/event | steady events/s | steady CPU µs/event | peak RSS MB | broker CPU s | stop s |")
	fmt.Fprintln(bw, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	all := slices.Clone(rs)
	slices.SortStableFunc(all, func(a, b RunResult) int { return a.Round - b.Round })
	for _, r := range all {
		fmt.Fprintf(bw, "| %d | %s | %.2f | %.0f | %.2f | %.2f | %s | %s | %.0f | %.2f | %.1f |\n", r.Round, name(r.Impl), r.WallSeconds, r.EventsPerSec, r.CPUSeconds, r.CPUUsPerEvent,
			orDash(r.SteadyEventsPerSec, "%.0f"), orDash(r.SteadyCPUUsPerEvent, "%.2f"), r.PeakRSSMB, r.BrokerCPUSec, r.StopSeconds)
	}
	for _, n := range ns {
		fmt.Fprintf(bw, "| %d | naive loop | %.2f | %.0f | %.2f | %.2f | – | – | – | – | – |\n", n.Round, n.WallSeconds, float64(n.Lines)/n.WallSeconds, n.CPUSeconds, n.CPUUsPerEvent)
	}
	fmt.Fprintln(bw)
	fmt.Fprintln(bw, "</details>")
	fmt.Fprintln(bw)
}

func rank(impl string) int {
	switch impl {
	case "streamlab":
		return 0
	case "ks-alos":
		return 1
	case "ks-eos":
		return 2
	}
	return 3
}

func name(impl string) string {
	if n, ok := implNames[impl]; ok {
		return n
	}
	return strings.TrimSpace(impl)
}

func orDash(v float64, format string) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// scrape sums every series of each metric family in the Prometheus text
// format, whatever its labels ("name" and "name{...}"); "name#n" counts the
// series, for means. Each series with labels is also kept under its own
// name as printed ("name{label=\"value\"}").
func scrape(url string) (map[string]float64, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
			rest = line[i:]
		}
		if j := strings.LastIndexByte(rest, '}'); j >= 0 {
			rest = rest[j+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil || math.IsNaN(v) {
			continue
		}
		out[name] += v
		out[name+"#n"]++
		if j := strings.LastIndexByte(line, '}'); j >= 0 {
			out[line[:j+1]] += v
		}
	}
	return out, sc.Err()
}

type sample struct {
	at      time.Duration
	rssMB   float64
	m       map[string]float64
	scraped bool
}

func cmdSoak(args []string) error {
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	url := fs.String("metrics", "", "the processor's /metrics URL")
	pid := fs.Int("pid", 0, "the processor's pid (RSS from /proc)")
	interval := fs.Duration("interval", 10*time.Second, "sampling interval")
	duration := fs.Duration("duration", 10*time.Minute, "how long to sample")
	mMessages := fs.String("messages", "streamlab_processor_messages_total", "counter of processed messages (any labels)")
	mEmissions := fs.String("emissions", "streamlab_processor_emissions_total", "counter of aggregate emissions")
	mCPBytes := fs.String("checkpoint-bytes", "streamlab_processor_checkpoint_bytes", "gauge: size of the last checkpoint")
	mCPDur := fs.String("checkpoint-duration", "streamlab_processor_checkpoint_duration_seconds", "histogram of checkpoint durations")
	mWindows := fs.String("open-windows", "streamlab_processor_open_windows", "gauge: windows held, per partition")
	mLag := fs.String("lag", "streamlab_processor_consumer_lag_messages", "gauge: consumer lag, per partition")
	mWMLag := fs.String("watermark-lag", "streamlab_processor_watermark_lag_seconds", "gauge: wall clock minus watermark, per partition")
	mTime := fs.String("time", "", "counter of the partition workers' seconds by activity (fetch_wait, process, output_wait, checkpoint); empty: no such columns")
	plateau := fs.Duration("plateau", 0, "event time after which the window state is full (window + lateness + replay retention), for the verdict")
	out := fs.String("out", "", "also write the table here")
	fs.Parse(args)
	if *url == "" || *pid == 0 {
		return errors.New("soak: --metrics and --pid are required")
	}
	var w io.Writer = os.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = io.MultiWriter(os.Stdout, f)
	}
	na := func(m map[string]float64, k string) (float64, bool) {
		v, ok := m[k]
		return v, ok
	}
	activities := []string{"fetch_wait", "output_wait", "checkpoint"}
	head, align := "", ""
	if *mTime != "" {
		// Backpressure: where the workers' time went in each interval.
		head, align = " waiting on input % | waiting on outputs % | checkpointing % |", "---:|---:|---:|"
	}
	fmt.Fprintf(w, "| t | RSS MB | events/s | emissions/s | last checkpoint bytes (mean per partition) | checkpoint mean ms (interval) | open windows | consumer lag | watermark lag s |%s\n", head)
	fmt.Fprintf(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|%s\n", align)
	start := time.Now()
	var samples []sample
	var prev *sample
	for {
		s := sample{at: time.Since(start).Round(time.Second)}
		if kb, err := procStatusKB(*pid, "VmRSS"); err == nil {
			s.rssMB = float64(kb) / 1024
		} else {
			return fmt.Errorf("processor pid %d is gone: %w", *pid, err)
		}
		if m, err := scrape(*url); err == nil {
			s.m, s.scraped = m, true
		} else {
			s.m = map[string]float64{}
			fmt.Fprintf(os.Stderr, "benchtool: scrape: %v\n", err)
		}
		cell := func(v float64, ok bool, format string) string {
			if !ok {
				return "n/a"
			}
			return fmt.Sprintf(format, v)
		}
		rate := func(k string) string {
			if prev == nil {
				return "–"
			}
			a, ok1 := na(prev.m, k)
			b, ok2 := na(s.m, k)
			dt := (s.at - prev.at).Seconds()
			if !ok1 || !ok2 || dt <= 0 {
				return "n/a"
			}
			return fmt.Sprintf("%.0f", (b-a)/dt)
		}
		cpMean := "–"
		if prev != nil {
			s1, ok1 := na(prev.m, *mCPDur+"_sum")
			s2, ok2 := na(s.m, *mCPDur+"_sum")
			c1, ok3 := na(prev.m, *mCPDur+"_count")
			c2, ok4 := na(s.m, *mCPDur+"_count")
			switch {
			case !(ok1 && ok2 && ok3 && ok4):
				cpMean = "n/a"
			case c2 > c1:
				cpMean = fmt.Sprintf("%.1f (%d)", (s2-s1)/(c2-c1)*1000, int(c2-c1))
			default:
				cpMean = "none"
			}
		}
		cpb, okb := na(s.m, *mCPBytes)
		if okb {
			cpb /= s.m[*mCPBytes+"#n"]
		}
		shares := ""
		if *mTime != "" {
			for _, a := range activities {
				shares += " " + timeShare(prev, &s, *mTime, a) + " |"
			}
		}
		ow, okw := na(s.m, *mWindows)
		lag, okl := na(s.m, *mLag)
		wml, okm := na(s.m, *mWMLag)
		if okm {
			wml /= s.m[*mWMLag+"#n"]
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s | %s | %s | %s |%s\n", s.at, s.rssMB, rate(*mMessages), rate(*mEmissions),
			cell(cpb, okb, "%.0f"), cpMean, cell(ow, okw, "%.0f"), cell(lag, okl, "%.0f"), cell(wml, okm, "%.0f"), shares)
		samples = append(samples, s)
		prev = &samples[len(samples)-1]
		if time.Since(start)+*interval/2 > *duration {
			break
		}
		time.Sleep(time.Until(start.Add(time.Duration(len(samples)) * *interval)))
	}
	// Verdict: the largest RSS of the second half against the first half's.
	// The first sample is taken before the windows fill, so it is left out.
	if len(samples) >= 5 {
		body := samples[1:]
		half := len(body) / 2
		maxOf := func(xs []sample) float64 {
			m := 0.0
			for _, x := range xs {
				m = math.Max(m, x.rssMB)
			}
			return m
		}
		first, second := maxOf(body[:half]), maxOf(body[half:])
		growth := (second - first) / first * 100
		verdict := "flat"
		if growth > 10 {
			verdict = "GROWING"
		}
		fmt.Fprintf(w, "\nRSS: max %.0f MB in the first half, %.0f MB in the second half (%+.1f%%): **%s** (flat = the second half's max within +10%% of the first half's; the first sample is left out)\n",
			first, second, growth, verdict)
		var lagMax, wmMax float64
		lagOK, wmOK := false, false
		for _, x := range body {
			if v, ok := x.m[*mLag]; ok {
				lagMax, lagOK = math.Max(lagMax, v), true
			}
			if v, ok := x.m[*mWMLag]; ok {
				wmMax, wmOK = math.Max(wmMax, v/x.m[*mWMLag+"#n"]), true
			}
		}
		last := body[len(body)-1]
		c1, ok1 := medianPerSeries(body[:half], *mCPBytes)
		c2, ok2 := medianPerSeries(body[half:], *mCPBytes)
		if ok1 && ok2 && c1 > 0 {
			fmt.Fprintf(w, "\nCheckpoint bytes (last checkpoint, mean per partition): median %.0f in the first half, %.0f in the second half (%+.1f%%).\n",
				c1, c2, (c2-c1)/c1*100)
		}
		if *mTime != "" {
			s0, sN := samples[0], samples[len(samples)-1]
			var parts []string
			for _, a := range append([]string{"process"}, activities...) {
				parts = append(parts, a+" "+timeShare(&s0, &sN, *mTime, a)+" %")
			}
			fmt.Fprintf(w, "\nWorkers' time over the whole run: %s.\n", strings.Join(parts, ", "))
		}
		if lagOK && wmOK {
			fmt.Fprintf(w, "\nKeeping up: consumer lag max %.0f, last %.0f messages; watermark lag max %.0f s, last %.0f s (wall clock minus watermark; the watermark trails event time by the out-of-orderness, 5 s).\n",
				lagMax, last.m[*mLag], wmMax, last.m[*mWMLag]/math.Max(last.m[*mWMLag+"#n"], 1))
		}
		if *plateau > 0 && *duration < *plateau+*plateau/10 {
			fmt.Fprintf(w, "\nNote: windows are kept until the watermark is %s past their start (window + allowed lateness + replay retention + out-of-orderness), so the state only stops growing after that much event time; this soak lasted %s, so its second half still includes the fill-up. A verdict on flatness needs a soak longer than that (e.g. SOAK_DURATION=%s).\n",
				*plateau, *duration, (*plateau * 2).Round(time.Minute))
		}
	} else {
		fmt.Fprintf(w, "\nRSS: too few samples (%d) for a verdict; sample for longer\n", len(samples))
	}
	return nil
}

// timeShare is the share, in percent, of the workers' time in the interval
// from prev to s that went to one activity (all activities of the family
// make up the whole).
func timeShare(prev, s *sample, family, activity string) string {
	if prev == nil {
		return "–"
	}
	series := family + `{activity="` + activity + `"}`
	a, ok1 := prev.m[series]
	b, ok2 := s.m[series]
	if !ok1 || !ok2 {
		return "n/a"
	}
	total := s.m[family] - prev.m[family]
	if total <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", (b-a)/total*100)
}

// medianPerSeries is the median over the samples of a gauge family's mean
// per series.
func medianPerSeries(xs []sample, family string) (float64, bool) {
	var v []float64
	for _, x := range xs {
		if b, ok := x.m[family]; ok {
			v = append(v, b/x.m[family+"#n"])
		}
	}
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	return v[len(v)/2], true
}

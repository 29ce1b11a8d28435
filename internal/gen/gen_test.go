package gen_test

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/streamlab/streamlab/internal/gen"
)

func generate(t testing.TB, cfg gen.Config, n int) []gen.Message {
	t.Helper()
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	msgs := make([]gen.Message, n)
	for i := range msgs {
		msgs[i] = g.Next()
	}
	return msgs
}

func sameMessage(a, b gen.Message) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) &&
		a.Kind == b.Kind && a.Defect == b.Defect &&
		a.EventTime.Equal(b.EventTime) && a.ProducedAt.Equal(b.ProducedAt)
}

func TestSameConfigSameBytes(t *testing.T) {
	cfg := gen.DefaultConfig()
	cfg.Seed = 42
	a := generate(t, cfg, 30000)
	b := generate(t, cfg, 30000)
	for i := range a {
		if !sameMessage(a[i], b[i]) {
			t.Fatalf("message %d differs between two runs with the same config:\n%q\n%q", i, a[i].Value, b[i].Value)
		}
	}

	cfg.Seed = 43
	c := generate(t, cfg, 1000)
	same := 0
	for i := range c {
		if bytes.Equal(a[i].Value, c[i].Value) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("seeds 42 and 43 produced %d identical values out of %d", same, len(c))
	}
}

func TestClockAdvancesAtConfiguredRate(t *testing.T) {
	cfg := gen.DefaultConfig()
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Clock().Equal(cfg.Start) {
		t.Fatalf("clock before the first message = %s, want the start %s", g.Clock(), cfg.Start)
	}
	const n = 100000
	prev := g.Clock()
	for i := 0; i < n; i++ {
		m := g.Next()
		if !m.ProducedAt.Equal(prev) {
			t.Fatalf("message %d produced at %s, but Clock() said %s", i, m.ProducedAt, prev)
		}
		if !g.Clock().After(prev) {
			t.Fatalf("clock did not advance after message %d", i)
		}
		prev = g.Clock()
	}
	got := g.Clock().Sub(cfg.Start).Seconds()
	want := n / cfg.EventsPerSecond
	if math.Abs(got-want) > 0.02*want {
		t.Errorf("%d messages advanced the clock by %.1fs, want about %.1fs", n, got, want)
	}
}

// Which §5 outcome each defect is meant to have.
var defectOutcome = map[string]string{
	gen.DefectTruncatedJSON:       invalidJSON,
	gen.DefectTrailingGarbage:     invalidJSON,
	gen.DefectInvalidUTF8:         invalidJSON,
	gen.DefectJSONArray:           invalidJSON,
	gen.DefectJSONString:          invalidJSON,
	gen.DefectJSONNumber:          invalidJSON,
	gen.DefectJSONLiteral:         invalidJSON,
	gen.DefectEmpty:               invalidJSON,
	gen.DefectRandomBytes:         invalidJSON,
	gen.DefectSchemaVersion2:      unsupportedSchema,
	gen.DefectSchemaVersionNotInt: schemaViolation,
	gen.DefectMissingField:        schemaViolation,
	gen.DefectEmptyID:             schemaViolation,
	gen.DefectBadUUID:             schemaViolation,
	gen.DefectBadTimestamp:        schemaViolation,
	gen.DefectUnknownEventType:    schemaViolation,
	gen.DefectFloatAmount:         schemaViolation,
	gen.DefectNonPositiveAmount:   schemaViolation,
	gen.DefectStringAmount:        schemaViolation,
	gen.DefectMissingOrderField:   schemaViolation,
	gen.DefectLowercaseCurrency:   schemaViolation,
	gen.DefectMissingProductID:    schemaViolation,
}

func TestEveryValueIsValidOrBrokenAsIntended(t *testing.T) {
	cfg := gen.DefaultConfig()
	cfg.Seed = 7
	// More malformed and oversized messages than the defaults give, so that
	// every defect shows up many times.
	cfg.Malformed, cfg.Oversized = 0.08, 0.002
	msgs := generate(t, cfg, 60000)

	if len(gen.Defects()) != len(defectOutcome) {
		t.Fatalf("the test knows %d defects, the generator has %d", len(defectOutcome), len(gen.Defects()))
	}
	defectsSeen := map[string]int{}
	for i, m := range msgs {
		if bytes.IndexByte(m.Value, '\n') >= 0 {
			t.Fatalf("message %d (%s) contains a newline: %q", i, m.Kind, m.Value)
		}
		if len(m.Key) == 0 {
			t.Fatalf("message %d (%s) has no key", i, m.Kind)
		}
		outcome, obj := classify(m.Value, cfg.MaxEventBytes)
		switch m.Kind {
		case gen.Malformed:
			defectsSeen[m.Defect]++
			want, known := defectOutcome[m.Defect]
			if !known {
				t.Fatalf("message %d has unknown defect %q", i, m.Defect)
			}
			if outcome != want {
				t.Fatalf("message %d, defect %s: outcome %s, want %s: %q", i, m.Defect, outcome, want, m.Value)
			}
			// EventTime is set exactly when the value carries a readable one.
			if obj != nil {
				ts, _ := obj["event_time"].(string)
				parsed, err := time.Parse(time.RFC3339Nano, ts)
				readable := err == nil && ts != ""
				if readable != !m.EventTime.IsZero() || readable && !parsed.Equal(m.EventTime) {
					t.Fatalf("message %d, defect %s: EventTime %v does not match the value %q", i, m.Defect, m.EventTime, m.Value)
				}
			} else if !m.EventTime.IsZero() {
				t.Fatalf("message %d, defect %s: EventTime set on a non-object", i, m.Defect)
			}
			continue
		case gen.Oversized:
			if n := len(m.Value); n <= cfg.MaxEventBytes || n > cfg.MaxEventBytes+1000 {
				t.Fatalf("oversized message %d is %d bytes, want (%d, %d]", i, n, cfg.MaxEventBytes, cfg.MaxEventBytes+1000)
			}
			// Apart from its size it must be a valid event.
			outcome, obj = classify(m.Value, math.MaxInt)
		}
		if m.Defect != "" {
			t.Fatalf("message %d is %s but has defect %q", i, m.Kind, m.Defect)
		}
		if outcome != okOutcome {
			t.Fatalf("message %d (%s) should be a valid event, got %s: %q", i, m.Kind, outcome, m.Value)
		}
		checkValidEvent(t, i, m, obj)
	}
	for _, d := range gen.Defects() {
		if defectsSeen[d] < 20 {
			t.Errorf("defect %s appeared only %d times in %d messages", d, defectsSeen[d], len(msgs))
		}
	}
}

// checkValidEvent checks what the generator promises beyond §4 validity.
func checkValidEvent(t *testing.T, i int, m gen.Message, obj map[string]any) {
	t.Helper()
	ts := obj["event_time"].(string)
	if !msTimeRe.MatchString(ts) {
		t.Fatalf("message %d: event_time %q is not UTC with milliseconds", i, ts)
	}
	if parsed, _ := time.Parse(time.RFC3339Nano, ts); !parsed.Equal(m.EventTime) {
		t.Fatalf("message %d: event_time %s but EventTime %s", i, ts, m.EventTime)
	}
	if id := obj["event_id"].(string); !uuidV4Lower.MatchString(id) {
		t.Fatalf("message %d: event_id %q is not a lowercase v4 UUID", i, id)
	}
	if sid := obj["session_id"].(string); !uuidV4Lower.MatchString(sid) {
		t.Fatalf("message %d: session_id %q is not a lowercase v4 UUID", i, sid)
	}
	if uid := obj["user_id"].(string); uid != string(m.Key) {
		t.Fatalf("message %d: key %q but user_id %q", i, m.Key, uid)
	}
	for _, k := range []string{"page", "referrer", "device", "country"} {
		if v, present := obj[k]; present {
			if s, ok := v.(string); !ok || s == "" {
				t.Fatalf("message %d: optional field %s = %#v, want a non-empty string", i, k, v)
			}
		}
	}
	if c, ok := obj["currency"].(string); ok && c == "JPY" {
		// Yen prices are whole tens; a float slipping in would show here.
		if n, _ := obj["amount_minor"].(json.Number).Int64(); n%10 != 0 {
			t.Fatalf("message %d: JPY amount %d is not a shop price", i, n)
		}
	}
}

func TestRatiosAreRespected(t *testing.T) {
	cfg := gen.DefaultConfig()
	cfg.Seed = 3
	const n = 100000
	counts := map[gen.Kind]int{}
	for _, m := range generate(t, cfg, n) {
		counts[m.Kind]++
	}
	want := map[gen.Kind]float64{
		gen.Disordered:  cfg.Disorder,
		gen.AllowedLate: cfg.AllowedLate,
		gen.TooLate:     cfg.TooLate,
		gen.Duplicate:   cfg.Duplicate,
		gen.Malformed:   cfg.Malformed,
		gen.Oversized:   cfg.Oversized,
		gen.Future:      cfg.Future,
	}
	normal := 1.0
	for _, p := range want {
		normal -= p
	}
	want[gen.Normal] = normal
	for _, k := range gen.Kinds() {
		p := want[k]
		exp := p * n
		// Five standard deviations, plus one for the very first message
		// (which cannot be a duplicate yet).
		tol := 5*math.Sqrt(n*p*(1-p)) + 1
		if got := float64(counts[k]); math.Abs(got-exp) > tol {
			t.Errorf("%s: %d messages, want %.0f ± %.0f", k, counts[k], exp, tol)
		}
	}
}

func TestZeroRatiosMeanNoChaos(t *testing.T) {
	cfg := gen.DefaultConfig()
	cfg.Disorder, cfg.AllowedLate, cfg.TooLate, cfg.Duplicate = 0, 0, 0, 0
	cfg.Malformed, cfg.Oversized, cfg.Future = 0, 0, 0
	var last time.Time
	for i, m := range generate(t, cfg, 20000) {
		if m.Kind != gen.Normal {
			t.Fatalf("message %d is %s with all chaos ratios at zero", i, m.Kind)
		}
		if m.EventTime.Before(last) {
			t.Fatalf("message %d goes back in time without disorder: %s after %s", i, m.EventTime, last)
		}
		last = m.EventTime
	}
}

// TestEventTimePlacement checks each kind's event time against the clock at
// which it was produced.
func TestEventTimePlacement(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*gen.Config)
	}{
		{"defaults", func(*gen.Config) {}},
		{"short windows", func(c *gen.Config) {
			c.Window, c.OutOfOrderness, c.AllowedLateness = 10*time.Second, time.Second, 30*time.Second
		}},
		{"slow and sparse", func(c *gen.Config) { c.EventsPerSecond, c.Users = 2, 20 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := gen.DefaultConfig()
			cfg.Disorder, cfg.AllowedLate, cfg.TooLate, cfg.Future, cfg.Skewed = 0.2, 0.1, 0.05, 0.05, 0.05
			tc.mod(&cfg)
			ooo, al, w := cfg.OutOfOrderness, cfg.AllowedLateness, cfg.Window
			counts := map[gen.Kind]int{}
			for i, m := range generate(t, cfg, 50000) {
				c, et := m.ProducedAt, m.EventTime
				cMs := c.Truncate(time.Millisecond)
				counts[m.Kind]++
				switch m.Kind {
				case gen.Normal:
					if !et.Equal(cMs) {
						t.Fatalf("message %d: normal event at %s, clock %s", i, et, c)
					}
				case gen.Disordered:
					if !et.After(c.Add(-ooo-time.Millisecond)) || et.After(c) {
						t.Fatalf("message %d: disordered event at %s, clock %s", i, et, c)
					}
				case gen.AllowedLate:
					end := windowEnd(et, w)
					if !end.After(c.Add(-ooo-al)) || end.After(c.Add(-ooo)) {
						t.Fatalf("message %d: allowed-late event at %s (window end %s), clock %s", i, et, end, c)
					}
				case gen.TooLate:
					if !et.Before(c.Add(-ooo - al - 2*w)) {
						t.Fatalf("message %d: too-late event at %s, clock %s", i, et, c)
					}
				case gen.Future:
					if !et.Equal(c.Add(time.Duration(gen.FutureSkew)).Truncate(time.Millisecond)) {
						t.Fatalf("message %d: future event at %s, clock %s", i, et, c)
					}
				case gen.Skewed:
					if ahead := et.Sub(cMs); ahead < cfg.MaxFuture/2 || ahead > cfg.MaxFuture {
						t.Fatalf("message %d: skewed event %s ahead of the clock, want [%s, %s]", i, ahead, cfg.MaxFuture/2, cfg.MaxFuture)
					}
				}
			}
			for _, k := range []gen.Kind{gen.Normal, gen.Disordered, gen.AllowedLate, gen.TooLate, gen.Future, gen.Skewed} {
				if counts[k] == 0 {
					t.Errorf("no %s messages", k)
				}
			}
		})
	}
}

func windowEnd(t time.Time, w time.Duration) time.Time {
	ms, wms := t.UnixMilli(), w.Milliseconds()
	start := ms / wms * wms
	if ms < 0 && ms%wms != 0 {
		start -= wms
	}
	return time.UnixMilli(start + wms)
}

func TestAllowedLateFallsBackWhenImpossible(t *testing.T) {
	cfg := gen.DefaultConfig()
	cfg.Disorder, cfg.TooLate, cfg.Duplicate, cfg.Malformed, cfg.Oversized, cfg.Future = 0, 0, 0, 0, 0, 0
	cfg.AllowedLate = 1
	cfg.AllowedLateness = 0 // nothing can be late but accepted
	for i, m := range generate(t, cfg, 5000) {
		if m.Kind != gen.Disordered {
			t.Fatalf("message %d is %s, want disordered when allowed lateness is zero", i, m.Kind)
		}
	}
}

// TestOutcomesUnderWatermark replays the messages through a minimal model of
// the processor's per-partition watermark (contract §6), with the users spread
// over partitions by key, and checks that every kind gets its intended
// outcome there.
func TestOutcomesUnderWatermark(t *testing.T) {
	for _, tc := range []struct {
		name       string
		partitions int
		mod        func(*gen.Config)
	}{
		{"one partition", 1, func(*gen.Config) {}},
		{"six partitions", 6, func(*gen.Config) {}},
		{"one partition at 1 event/s", 1, func(c *gen.Config) { c.EventsPerSecond, c.Users = 1, 50 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := gen.DefaultConfig()
			cfg.Skewed = 0.01
			tc.mod(&cfg)
			const maxFuture = 10 * time.Minute
			ooo, al, w := cfg.OutOfOrderness, cfg.AllowedLateness, cfg.Window

			type partition struct {
				maxTime time.Time
				started bool
				counted map[string]bool
			}
			parts := make([]partition, tc.partitions)
			for i := range parts {
				parts[i].counted = map[string]bool{}
			}
			// The model needs a warm watermark before late-ness means anything.
			const warmup = 3000
			outcomes := map[gen.Kind]map[string]int{}
			for i, m := range generate(t, cfg, 40000) {
				h := fnv.New32a()
				h.Write(m.Key)
				p := &parts[int(h.Sum32()%uint32(tc.partitions))]

				outcome, obj := classify(m.Value, cfg.MaxEventBytes)
				if outcome == okOutcome {
					et := m.EventTime
					end := windowEnd(et, w)
					wm := p.maxTime.Add(-ooo)
					id := obj["event_id"].(string)
					switch {
					case et.After(m.ProducedAt.Add(maxFuture)):
						outcome = "future_event"
					case p.started && !wm.Before(end.Add(al)):
						outcome = "late_event"
					case p.counted[id]:
						outcome = "duplicate"
					default:
						outcome = "counted"
						if p.started && !wm.Before(end) {
							outcome = "late_accepted"
						}
						p.counted[id] = true
						// The skew cap: W never passes the record timestamp.
						vouched := et
						if m.ProducedAt.Before(vouched) {
							vouched = m.ProducedAt
						}
						if !p.started || vouched.After(p.maxTime) {
							p.maxTime, p.started = vouched, true
						}
					}
				}
				if i < warmup {
					continue
				}
				if outcomes[m.Kind] == nil {
					outcomes[m.Kind] = map[string]int{}
				}
				outcomes[m.Kind][outcome]++
			}
			want := map[gen.Kind]string{
				gen.Normal:      "counted",
				gen.Disordered:  "counted",
				gen.AllowedLate: "late_accepted",
				gen.TooLate:     "late_event",
				gen.Duplicate:   "duplicate",
				gen.Oversized:   oversized,
				gen.Future:      "future_event",
				gen.Skewed:      "counted",
			}
			for k, outs := range outcomes {
				if k == gen.Malformed {
					if outs["counted"]+outs["late_accepted"]+outs["duplicate"] > 0 {
						t.Errorf("malformed messages were counted: %v", outs)
					}
					continue
				}
				if len(outs) != 1 || outs[want[k]] == 0 {
					t.Errorf("%s messages had outcomes %v, want all %s", k, outs, want[k])
				}
			}
		})
	}
}

func TestFunnel(t *testing.T) {
	cfg := gen.DefaultConfig()
	cfg.Seed = 11
	msgs := generate(t, cfg, 100000)

	type order struct {
		user, session, currency string
		amount                  json.Number
	}
	steps := map[string]map[string]bool{} // session → event types seen
	orders := map[string]order{}
	sessionUser := map[string]string{}
	followUps := 0
	for i, m := range msgs {
		switch m.Kind {
		case gen.Duplicate, gen.Malformed, gen.Oversized:
			continue // noise, not funnel steps
		}
		var ev map[string]any
		d := json.NewDecoder(bytes.NewReader(m.Value))
		d.UseNumber()
		if err := d.Decode(&ev); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		typ := ev["event_type"].(string)
		sid := ev["session_id"].(string)
		uid := ev["user_id"].(string)
		if u, ok := sessionUser[sid]; ok && u != uid {
			t.Fatalf("session %s belongs to users %s and %s", sid, u, uid)
		}
		sessionUser[sid] = uid
		if steps[sid] == nil {
			steps[sid] = map[string]bool{}
		}
		s := steps[sid]
		// Each step needs the one before it, earlier in the same session.
		need := map[string]string{
			"add_to_cart":      "product_view",
			"checkout_started": "add_to_cart",
			"order_placed":     "checkout_started",
		}[typ]
		if need != "" && !s[need] {
			t.Fatalf("message %d: session %s has %s before any %s", i, sid, typ, need)
		}
		switch typ {
		case "order_placed":
			oid := ev["order_id"].(string)
			if _, dup := orders[oid]; dup {
				t.Fatalf("order %s placed twice", oid)
			}
			orders[oid] = order{uid, sid, ev["currency"].(string), ev["amount_minor"].(json.Number)}
		case "payment_failed", "order_refunded":
			followUps++
			oid := ev["order_id"].(string)
			o, ok := orders[oid]
			got := order{uid, sid, ev["currency"].(string), ev["amount_minor"].(json.Number)}
			if !ok || o != got {
				t.Fatalf("message %d: %s for order %s does not match its order_placed: %+v vs %+v", i, typ, oid, got, o)
			}
		}
		s[typ] = true
	}

	count := func(typ string) int {
		n := 0
		for _, s := range steps {
			if s[typ] {
				n++
			}
		}
		return n
	}
	sessions, views, carts := len(steps), count("product_view"), count("add_to_cart")
	checkouts, placed := count("checkout_started"), count("order_placed")
	t.Logf("sessions %d, product_view %d, add_to_cart %d, checkout %d, order %d, follow-ups %d",
		sessions, views, carts, checkouts, placed, followUps)
	if !(sessions >= views && views >= carts && carts >= checkouts && checkouts >= placed && placed > 0) {
		t.Fatalf("funnel is not monotone")
	}
	// Drop-off near the configured rates; sessions still running at the end
	// of the sample pull them down a little.
	for _, r := range []struct {
		name     string
		num, den int
		want     float64
	}{
		{"view/session", views, sessions, 0.60},
		{"cart/view", carts, views, 0.30},
		{"checkout/cart", checkouts, carts, 0.50},
		{"order/checkout", placed, checkouts, 0.70},
	} {
		if got := float64(r.num) / float64(r.den); math.Abs(got-r.want) > 0.06 {
			t.Errorf("%s = %.3f, want about %.2f", r.name, got, r.want)
		}
	}
	if followUps == 0 {
		t.Errorf("no payment failures or refunds in %d orders", placed)
	}

	// Many sessions interleave: a short stretch of traffic touches many.
	recent := map[string]bool{}
	for _, m := range msgs[50000:50500] {
		if m.Kind == gen.Normal {
			var ev struct {
				SessionID string `json:"session_id"`
			}
			if err := json.Unmarshal(m.Value, &ev); err != nil {
				t.Fatal(err)
			}
			recent[ev.SessionID] = true
		}
	}
	if len(recent) < 200 {
		t.Errorf("500 messages touched only %d sessions", len(recent))
	}
}

func TestCurrenciesAndProducts(t *testing.T) {
	currencies := map[string]int{}
	products := map[string]int{}
	for _, m := range generate(t, gen.DefaultConfig(), 100000) {
		if m.Kind != gen.Normal {
			continue
		}
		var ev struct {
			Currency  string `json:"currency"`
			ProductID string `json:"product_id"`
			Type      string `json:"event_type"`
		}
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Currency != "" {
			currencies[ev.Currency]++
		}
		if ev.Type == "product_view" {
			products[ev.ProductID]++
		}
	}
	for _, c := range []string{"EUR", "USD", "GBP", "JPY"} {
		if currencies[c] == 0 {
			t.Errorf("no orders in %s: %v", c, currencies)
		}
	}
	if len(products) < 100 || len(products) > 200 {
		t.Errorf("%d distinct products viewed, want most of a 200-product catalogue", len(products))
	}
	// Zipf-ish popularity: the top product is far more viewed than the median.
	maxViews, total := 0, 0
	for _, n := range products {
		maxViews = max(maxViews, n)
		total += n
	}
	if maxViews*len(products) < 10*total {
		t.Errorf("most viewed product has %d of %d views across %d products: popularity too flat", maxViews, total, len(products))
	}
}

func TestConfigValidation(t *testing.T) {
	if err := gen.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config is invalid: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*gen.Config)
		want string
	}{
		{"zero start", func(c *gen.Config) { c.Start = time.Time{} }, "Start is not set"},
		{"start far future", func(c *gen.Config) { c.Start = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }, "Start"},
		{"zero rate", func(c *gen.Config) { c.EventsPerSecond = 0 }, "EventsPerSecond"},
		{"NaN rate", func(c *gen.Config) { c.EventsPerSecond = math.NaN() }, "EventsPerSecond"},
		{"no users", func(c *gen.Config) { c.Users = 0 }, "Users"},
		{"zero window", func(c *gen.Config) { c.Window = 0 }, "Window"},
		{"huge window", func(c *gen.Config) { c.Window = 48 * time.Hour }, "Window"},
		{"huge lateness", func(c *gen.Config) { c.AllowedLateness = 30 * 24 * time.Hour }, "AllowedLateness"},
		{"tiny rate", func(c *gen.Config) { c.EventsPerSecond = 1e-6 }, "EventsPerSecond"},
		{"sub-ms window", func(c *gen.Config) { c.Window = time.Minute + time.Microsecond }, "Window"},
		{"negative ooo", func(c *gen.Config) { c.OutOfOrderness = -time.Second }, "OutOfOrderness"},
		{"negative lateness", func(c *gen.Config) { c.AllowedLateness = -time.Second }, "AllowedLateness"},
		{"tiny max bytes", func(c *gen.Config) { c.MaxEventBytes = 100 }, "MaxEventBytes"},
		{"negative ratio", func(c *gen.Config) { c.Malformed = -0.1 }, "Malformed must be in"},
		{"ratio above 1", func(c *gen.Config) { c.Future = 1.5 }, "Future must be in"},
		{"NaN ratio", func(c *gen.Config) { c.Disorder = math.NaN() }, "Disorder must be in"},
		{"sum above 1", func(c *gen.Config) { c.Disorder, c.Duplicate = 0.6, 0.5 }, "sum to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := gen.DefaultConfig()
			tc.mod(&cfg)
			_, err := gen.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}

	// Every problem is reported at once.
	err := gen.Config{}.Validate()
	if err == nil {
		t.Fatal("zero Config is valid")
	}
	for _, want := range []string{"Start", "EventsPerSecond", "Users", "Window", "MaxEventBytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("zero Config error does not mention %q: %v", want, err)
		}
	}

	// The full chaos budget is allowed.
	cfg := gen.DefaultConfig()
	cfg.Disorder, cfg.AllowedLate, cfg.TooLate, cfg.Duplicate, cfg.Malformed, cfg.Oversized, cfg.Future =
		0.1, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1
	if err := cfg.Validate(); err != nil {
		t.Errorf("ratios summing to 1 rejected: %v", err)
	}
}

func TestKindString(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range gen.Kinds() {
		s := k.String()
		if s == "" || strings.HasPrefix(s, "Kind(") || seen[s] {
			t.Errorf("kind %d has name %q", k, s)
		}
		seen[s] = true
	}
	if got := gen.Kind(200).String(); got != "Kind(200)" {
		t.Errorf("unknown kind prints as %q", got)
	}
}

func BenchmarkNext(b *testing.B) {
	g, err := gen.New(gen.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	bytes := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bytes += len(g.Next().Value)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.SetBytes(int64(bytes / max(b.N, 1)))
}

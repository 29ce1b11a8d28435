package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
)

// cmdOffline compares two offline runs on the same file, emission by
// emission and dead letter by dead letter, in order: streamlab process and
// the Kafka Streams topology in TopologyTestDriver (kstreamsbench.Offline).
func cmdOffline(args []string) error {
	fs := flag.NewFlagSet("offline", flag.ExitOnError)
	aAgg := fs.String("a-agg", "", "A's aggregate lines")
	aDLQ := fs.String("a-dlq", "", "A's dead-letter lines")
	bAgg := fs.String("b-agg", "", "B's aggregate lines")
	bDLQ := fs.String("b-dlq", "", "B's dead-letter lines")
	fs.Parse(args)
	if *aAgg == "" || *aDLQ == "" || *bAgg == "" || *bDLQ == "" {
		return errors.New("offline: --a-agg, --a-dlq, --b-agg and --b-dlq are required")
	}
	type letter struct {
		Reason string `json:"reason"`
		Offset int64  `json:"source_offset"`
	}
	var ra, rb []record
	var la, lb []letter
	for _, x := range []struct {
		path string
		into any
	}{{*aAgg, &ra}, {*bAgg, &rb}, {*aDLQ, &la}, {*bDLQ, &lb}} {
		if err := readLines(x.path, x.into); err != nil {
			return err
		}
	}
	bad := 0
	if len(ra) != len(rb) {
		fmt.Printf("aggregate emissions: %d vs %d\n", len(ra), len(rb))
		bad++
	}
	for i := 0; i < min(len(ra), len(rb)); i++ {
		if !reflect.DeepEqual(normal(&ra[i]), normal(&rb[i])) {
			fmt.Printf("emission %d (%s): %s\n", i, ra[i].Key(), fieldDiff(&ra[i], &rb[i]))
			if bad++; bad > 10 {
				break
			}
		}
	}
	if !reflect.DeepEqual(la, lb) {
		bad++
		fmt.Printf("dead letters differ: %d vs %d\n", len(la), len(lb))
		for i := 0; i < min(len(la), len(lb)); i++ {
			if la[i] != lb[i] {
				fmt.Printf("first difference: %+v vs %+v\n", la[i], lb[i])
				break
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("offline outputs differ")
	}
	fmt.Printf("offline outputs identical: %d aggregate emissions in the same order, %d dead letters with the same reasons and offsets\n", len(ra), len(la))
	return nil
}

func readLines(path string, into any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	rv := reflect.ValueOf(into).Elem()
	for sc.Scan() {
		v := reflect.New(rv.Type().Elem())
		if err := json.Unmarshal(sc.Bytes(), v.Interface()); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rv.Set(reflect.Append(rv, v.Elem()))
	}
	return sc.Err()
}

// Command benchtool is the measuring side of bench/kafka.sh and bench/soak.sh
// (see bench/README.md). It depends only on the standard library and kafka-go,
// not on streamlab's internal packages, so that refactoring them never breaks
// the benchmark and the benchmark never reads the implementation it measures.
//
//	benchtool run      start a processor pinned to a core, wait until its group has
//	                   committed the end of the input, measure, stop it (SIGTERM)
//	benchtool dump     write a topic's values as JSON lines (the naive loop's input)
//	benchtool equiv    compare two implementations' final aggregates and dead letters
//	benchtool offline  compare two offline runs (aggregate emissions and dead letters, in order)
//	benchtool report   the markdown table from the JSON lines of run and the naive loop
//	benchtool soak     sample a running processor's metrics and RSS into a table
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "run":
		err = cmdRun(args)
	case "dump":
		err = cmdDump(args)
	case "equiv":
		err = cmdEquiv(args)
	case "offline":
		err = cmdOffline(args)
	case "report":
		err = cmdReport(args)
	case "soak":
		err = cmdSoak(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchtool run|dump|equiv|offline|report|soak [flags] (-h for each)")
	os.Exit(2)
}

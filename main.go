// Command streamlab is the one binary of the streamlab pipeline; the role is
// the first argument (producer, processor, dispatcher, process, dlq, demo, ...).
package main

import (
	"os"

	"github.com/streamlab/streamlab/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

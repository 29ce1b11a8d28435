package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/segmentio/kafka-go"
)

// cmdDump writes every value of a topic as one line: the naive loop reads
// exactly the bytes the processors read.
func cmdDump(args []string) error {
	fs := flag.NewFlagSet("dump", flag.ExitOnError)
	brokers := fs.String("brokers", "", "bootstrap brokers")
	topic := fs.String("topic", "", "topic to read")
	out := fs.String("out", "", "output file")
	fs.Parse(args)
	if *brokers == "" || *topic == "" || *out == "" {
		return errors.New("dump: --brokers, --topic and --out are required")
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	n := 0
	err = readAll(context.Background(), *brokers, *topic, func(m *kafka.Message) error {
		if bytes.IndexByte(m.Value, '\n') >= 0 {
			return fmt.Errorf("%s/%d@%d: a value with a newline cannot be one line", *topic, m.Partition, m.Offset)
		}
		w.Write(m.Value)
		w.WriteByte('\n')
		n++
		return nil
	})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "benchtool: dumped %d values of %s to %s\n", n, *topic, *out)
	return nil
}

package chdbtest

import (
	"reflect"
	"testing"
)

func TestConnectArgv(t *testing.T) {
	for _, tt := range []struct {
		path string
		want []string
	}{
		{"/data/ch", []string{"clickhouse", "--path=/data/ch", "--output_format_json_quote_64bit_integers=0"}},
		{memoryPath, []string{"clickhouse", "--output_format_json_quote_64bit_integers=0"}},
	} {
		if got := connectArgv(tt.path); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("connectArgv(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

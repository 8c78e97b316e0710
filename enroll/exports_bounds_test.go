package enroll

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// allocated is how many bytes f allocates, all told.
func allocated(f func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

// A list of millions of tiny elements ("[0,0,0,...]") must be refused for
// the number of its entries without holding them all: read whole, each
// costs a slice header and a copy, gigabytes for a file within the size
// bound — enough to kill the app on a phone. This is a bound on memory,
// not on time.
func TestAHugeListOfTinyEntriesIsRefusedWithoutHoldingThem(t *testing.T) {
	const elems = 2 << 20
	list := append([]byte("["), bytes.Repeat([]byte("0,"), elems-1)...)
	list = append(list, '0', ']')
	for name, tt := range map[string]struct {
		in   []byte
		want string
	}{
		"andOTP":    {list, "holds 2097152 entries"},
		"FreeOTP+":  {append(append([]byte(`{"tokens":`), list...), '}'), "holds 2097152 entries"},
		"2FAS":      {append(append([]byte(`{"services":`), list...), '}'), "holds 2097152 entries"},
		"Bitwarden": {append(append([]byte(`{"encrypted":false,"items":`), list...), '}'), "more than 1000 TOTP entries"},
	} {
		var err error
		n := allocated(func() { _, err = ParseImport(tt.in) })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tt.want)
		}
		if limit := uint64(len(tt.in)) * 16; n > limit {
			t.Errorf("%s: reading %d KiB allocated %d MiB, want at most %d MiB", name, len(tt.in)>>10, n>>20, limit>>20)
		}
	}
}

// FuzzJSONEntries checks that cutting a list into its elements in place
// gives what json.Unmarshal gives.
func FuzzJSONEntries(f *testing.F) {
	for _, s := range []string{`[]`, ` [ 1 , "a,b]" , {"x":[1,{"y":"\"]"}]} , [[],[]] ] `, `["\\", "\\\""]`, `{}`, `[1,]`, `[1 2]`, `5`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want []json.RawMessage
		werr := json.Unmarshal(raw, &want)
		var got []json.RawMessage
		n, err := eachJSONEntry(raw, func(e json.RawMessage) { got = append(got, e) })
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: error %v, json.Unmarshal's %v", raw, err, werr)
		}
		if err != nil {
			return
		}
		if n != len(want) || len(got) != len(want) {
			t.Fatalf("%q: %d entries (%d given), want %d", raw, n, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%q: entry %d is %q, want %q", raw, i, got[i], want[i])
			}
		}
	})
}

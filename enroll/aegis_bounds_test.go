package enroll

import (
	"encoding/json"
	"strings"
	"testing"
)

// scrypt takes 128·r·p bytes for its input block besides the 128·N·r of
// its table: a file with a tiny N and a huge r and p must not get past the
// memory bound through p.
func TestAnEncryptedAegisExportCannotAskScryptForMoreMemoryThroughP(t *testing.T) {
	const pw = "correct horse"
	good := sealAegis(t, testDB(goodAegisEntry), pw, 1<<4, 8, 1)
	var f map[string]any
	if err := json.Unmarshal(good, &f); err != nil {
		t.Fatal(err)
	}
	slot := f["header"].(map[string]any)["slots"].([]any)[1].(map[string]any)
	// 128·N·r = 128 MiB passes a bound on the table alone; with p = 4 the
	// block adds 256 MiB more.
	slot["n"], slot["r"], slot["p"] = 2, 1<<19, 4
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := ParseImportPassword(data, pw)
	if err == nil || imp != nil || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("N=2 r=2^19 p=4: got %+v, %v; want the scrypt parameters refused as out of range", imp, err)
	}
}

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/seed-3a5b824e/assent/server"
)

// serveRecordFile, in the data folder, says which URL and organisation
// 'assentd serve' last ran with, so that 'assentd enroll' makes links the
// running server answers, without being given its flags again.
const serveRecordFile = "serve.json"

type serveRecord struct {
	URL     string    `json:"url"`
	Org     string    `json:"org"`
	Started time.Time `json:"started"`
}

// writeServeRecord records what the server serves as, replacing the file
// whole.
func writeServeRecord(dir string, r serveRecord) error {
	if r.Started.IsZero() {
		r.Started = time.Now().UTC().Truncate(time.Second)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+serveRecordFile+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, serveRecordFile))
}

// readServeRecord reads the record; nil when there is none.
func readServeRecord(dir string) (*serveRecord, error) {
	path := filepath.Join(dir, serveRecordFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r serveRecord
	if err := json.Unmarshal(data, &r); err != nil || !strings.HasPrefix(r.URL, "http://") && !strings.HasPrefix(r.URL, "https://") {
		return nil, fmt.Errorf("%s is damaged (delete it; 'assentd serve' writes it again when it starts)", path)
	}
	return &r, nil
}

// linkAddress settles the URL and organisation an enrollment link names:
// those given (a flag, the environment, or a value the --config file
// sets), else those the server last served with from this data folder;
// with neither, it refuses to guess.
func linkAddress(fs *flag.FlagSet, cfg *server.Config) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	configFile := set["config"] || os.Getenv("ASSENT_CONFIG") != ""
	def := server.DefaultConfig()
	given := func(name, value, defValue string) bool {
		return set[name] || os.Getenv(server.EnvName(name)) != "" || configFile && value != defValue
	}
	rec, err := readServeRecord(cfg.Data)
	if err != nil {
		return err
	}
	if !given("org", cfg.Org, def.Org) && rec != nil && rec.Org != "" {
		cfg.Org = rec.Org
	}
	switch {
	case given("url", cfg.URL, def.URL):
		if rec != nil && strings.TrimRight(cfg.URL, "/") != rec.URL {
			fmt.Fprintf(os.Stderr, "Note: the server last served from %s at %s; this link names %s, as --url says.\n", cfg.Data, rec.URL, cfg.URL)
		}
	case rec != nil:
		cfg.URL = rec.URL
	case given("listen", cfg.Listen, def.Listen):
		// The URL derives from --listen, as the server's does.
	default:
		return fmt.Errorf("no server has run from the data folder %s yet, so the link's address is not known: "+
			"start it first (assentd serve --data %s), and it records its URL and organisation there; or give --url and --org", cfg.Data, cfg.Data)
	}
	return nil
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

const auditUsage = "usage: assentd audit verify [--data DIR | --database URL] | " +
	"assentd audit export [--since TIME] [--format jsonl] [--data DIR | --database URL]"

// auditCmd checks the audit log's hash chain or writes the log out for a
// SIEM.
func auditCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(auditUsage)
	}
	if isHelp(args[0]) || args[0] == "help" {
		return printHelp("assentd audit verify: check the audit log's hash chain: how many events hold, or the first event that was changed (exit status 1)\n" +
			"assentd audit export [--since TIME] [--format jsonl]: write the audit log, one JSON object per line with the chain hashes, for a SIEM\n" +
			"(assentd audit verify --help and assentd audit export --help list their flags)")
	}
	sub := args[0]
	fs := flag.NewFlagSet("assentd audit "+sub, flag.ContinueOnError)
	var since, format *string
	switch sub {
	case "verify":
	case "export":
		since = fs.String("since", "", "export events at or after this time: RFC 3339 (2026-11-30T08:00:00Z), a date (2026-11-30, UTC) or a duration back from now (24h); empty for all")
		format = fs.String("format", "jsonl", "jsonl: one JSON object per line, with the chain hashes")
	default:
		return fmt.Errorf("unknown audit subcommand %q\n%s", sub, auditUsage)
	}
	cfg, rest, err := loadConfig(fs, args[1:], map[string]string{
		"verify": "usage: assentd audit verify: check the audit log's hash chain: how many events hold, or the first event that was changed (exit status 1)",
		"export": "usage: assentd audit export [--since TIME] [--format jsonl]: write the audit log, one JSON object per line with the chain hashes, for a SIEM",
	}[sub], storeFlags...)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("audit %s takes no arguments, got %q\n%s", sub, rest, auditUsage)
	}
	var from time.Time
	if sub == "export" {
		if *format != "jsonl" {
			return fmt.Errorf("--format %q: the one format is jsonl", *format)
		}
		if from, err = parseSince(*since, time.Now()); err != nil {
			return err
		}
	}
	// Reading the log must not make a database where there is none.
	if !cfg.Postgres() {
		if _, err := os.Stat(cfg.DBPath()); err != nil {
			return fmt.Errorf("there is no database at %s (give the server's --data folder or --database URL): %w", cfg.DBPath(), err)
		}
	}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if sub == "verify" {
		return auditVerify(ctx, st, os.Stdout)
	}
	return auditExport(ctx, st, from, os.Stdout)
}

// auditVerify walks the chain: the count and the last hash on w, or an
// error naming the first event that does not hold.
func auditVerify(ctx context.Context, st store.Store, w io.Writer) error {
	c, err := store.VerifyAudit(ctx, st)
	if err != nil {
		return fmt.Errorf("read the audit log: %w", err)
	}
	before := ""
	if c.Before > 0 {
		before = fmt.Sprintf("; %d earlier events, from before the chain began at seq %d, carry no hash and are not covered", c.Before, c.Start)
	}
	if c.Broken != nil {
		fmt.Fprintf(w, "%d events checked and whole before the break%s\n", c.Checked, before)
		return fmt.Errorf("audit log broken at event %s: %s", store.FormatAuditEvent(*c.Broken), c.Problem)
	}
	if c.Checked == 0 {
		fmt.Fprintf(w, "audit log intact: 0 events checked (none in the chain yet)%s\n", before)
		return nil
	}
	fmt.Fprintf(w, "audit log intact: %d %s checked, through %s with hash %s%s\n",
		c.Checked, plural(c.Checked, "event", "events"), store.FormatAuditEvent(c.Last), c.Last.Hash, before)
	return nil
}

func plural(n int64, one, more string) string {
	if n == 1 {
		return one
	}
	return more
}

// parseSince reads --since: RFC 3339, a date in UTC, or a duration back
// from now.
func parseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a time such as 2026-11-30T08:00:00Z, a date such as 2026-11-30, or a duration back from now such as 24h", v)
}

// exportPage is how many events auditExport reads at a time.
const exportPage = 1000

func auditExport(ctx context.Context, st store.Store, since time.Time, w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var after int64
	for {
		es, err := st.ListAudit(ctx, store.AuditFilter{Since: since, AfterSeq: after, Limit: exportPage})
		if err != nil {
			return fmt.Errorf("read the audit log: %w", err)
		}
		for _, e := range es {
			after = e.Seq
			if err := enc.Encode(store.NewAuditRecord(e)); err != nil {
				return err
			}
		}
		if len(es) < exportPage {
			break
		}
	}
	return bw.Flush()
}

// Package cli holds the little both command-line mains share: flags mixed
// with arguments, and asking for a secret on the terminal.
package cli

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// Parse parses flags that may come before, between or after positional
// arguments (`deny ID --report`), and returns the positional ones. "--"
// ends flag parsing.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs.Parse stops at the first positional argument, or after "--".
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// IsTerminal says whether f is a terminal.
func IsTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// ReadSecret reads a secret: without echo from the terminal when stdin is
// one (asking twice when confirm is set), else the first line of stdin.
func ReadSecret(prompt string, confirm bool) ([]byte, error) {
	if !IsTerminal(os.Stdin) {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return nil, errors.New("expected the secret on the first line of standard input, got nothing")
		}
		return []byte(line), nil
	}
	fmt.Fprint(os.Stderr, prompt)
	s, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, err
	}
	if confirm {
		fmt.Fprint(os.Stderr, "Again: ")
		again, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return nil, err
		}
		if string(again) != string(s) {
			return nil, errors.New("the two entries differ")
		}
	}
	if len(s) == 0 {
		return nil, errors.New("empty input")
	}
	return s, nil
}

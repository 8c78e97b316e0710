package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/term"
)

// console is where a command asks the person things: standard input, read
// line by line through one buffer (so that secrets piped in one a line,
// `printf '1234\n1234\n' | assent lock set`, are all there), and without
// echo when it is a terminal. Questions go to prompts (standard error), so
// that standard output stays the command's answer.
type console struct {
	in      *bufio.Reader
	fd      int
	tty     bool
	prompts io.Writer

	// waiting is set while a command waits for a line with nothing else
	// to do: a signal then ends the command there (see interrupted).
	waiting atomic.Bool
	// restoreMu guards restore, the terminal as it was before a read
	// without echo.
	restoreMu sync.Mutex
	restore   func()

	// The listen loop reads lines in the background (reqs, results) so
	// that it can wait for a line and for pushes at once; a request is
	// in flight until its result is taken.
	reqs    chan readReq
	results chan lineResult
	pending bool
}

type readReq struct {
	secret bool
	prompt string
}

type lineResult struct {
	line string
	err  error
}

// errNoInput is the end of standard input.
var errNoInput = errors.New("no input")

func newConsole(stdin io.Reader, prompts io.Writer) *console {
	c := &console{in: bufio.NewReader(stdin), fd: -1, prompts: prompts}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		c.fd, c.tty = int(f.Fd()), true
	}
	return c
}

// readLine prints prompt and reads one line: without echo when secret and
// a terminal (echo goes off before the prompt shows). It is the only place
// that reads standard input.
func (c *console) readLine(secret bool, prompt string) (string, error) {
	if secret && c.tty {
		// Echo goes off and its restore is recorded under one lock, so
		// that a signal handler (which takes the lock to restore) never
		// sees echo off without the way back.
		c.restoreMu.Lock()
		restore, err := echoOff(c.fd)
		if err == nil {
			c.restore = restore
		}
		c.restoreMu.Unlock()
		if errors.Is(err, errors.ErrUnsupported) {
			fmt.Fprint(c.prompts, prompt)
			b, err := term.ReadPassword(c.fd)
			fmt.Fprintln(c.prompts)
			return strings.TrimRight(string(b), "\r\n"), err
		}
		if err != nil {
			return "", err
		}
		defer func() {
			c.restoreMu.Lock()
			c.restore = nil
			c.restoreMu.Unlock()
			restore()
			// The Enter typed was not echoed either.
			fmt.Fprintln(c.prompts)
		}()
	}
	if prompt != "" && (c.tty || !secret) {
		fmt.Fprint(c.prompts, prompt)
	}
	line, err := c.in.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		if errors.Is(err, io.EOF) {
			return "", errNoInput
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// interrupted puts the terminal back after a signal, and says whether the
// command is stuck waiting for a line (then the caller ends it).
func (c *console) interrupted() bool {
	c.restoreMu.Lock()
	if c.restore != nil {
		c.restore()
		c.restore = nil
		fmt.Fprintln(c.prompts)
	}
	c.restoreMu.Unlock()
	return c.waiting.Load()
}

// wait reads a line for a command that has nothing else to do meanwhile.
func (c *console) wait(secret bool, prompt string) (string, error) {
	c.waiting.Store(true)
	defer c.waiting.Store(false)
	return c.readLine(secret, prompt)
}

// Line asks a question and reads the answer.
func (c *console) Line(prompt string) (string, error) {
	l, err := c.wait(false, prompt)
	return strings.TrimSpace(l), err
}

// Secret asks for a secret: from a terminal without echo, from a pipe the
// next line.
func (c *console) Secret(prompt string) ([]byte, error) {
	s, err := c.wait(true, prompt)
	if errors.Is(err, errNoInput) {
		return nil, errors.New("expected it on the next line of standard input, which has ended")
	}
	if err != nil {
		return nil, err
	}
	if s == "" {
		return nil, errors.New("nothing was entered")
	}
	return []byte(s), nil
}

// NewSecret asks for a new secret twice, and check says what is wrong
// with it (a terminal asks again then; an empty entry gives up). From a
// pipe the second line is the confirmation, when there is one.
func (c *console) NewSecret(prompt string, check func([]byte) error) ([]byte, error) {
	for {
		s, err := c.Secret(prompt)
		if err != nil {
			return nil, err
		}
		if err := check(s); err != nil {
			if !c.tty {
				return nil, err
			}
			fmt.Fprintf(c.prompts, "%s Try again, or press Enter alone to stop.\n", sentence(err.Error()))
			continue
		}
		again, err := c.wait(true, "Again: ")
		switch {
		case errors.Is(err, errNoInput) && !c.tty:
			// One line piped in: nothing to compare it with.
			return s, nil
		case err != nil:
			return nil, err
		case again != string(s) && c.tty:
			fmt.Fprintln(c.prompts, "The two entries differ. Try again, or press Enter alone to stop.")
			continue
		case again != string(s):
			return nil, errors.New("the two entries differ (the second line of standard input repeats the first)")
		}
		return s, nil
	}
}

// want makes sure a read is under way in the background (printing prompt
// when it starts one) and gives the channel its line comes on; call took
// once it came. A read already under way is waited for, whatever it asked.
func (c *console) want(secret bool, prompt string) <-chan lineResult {
	if c.reqs == nil {
		c.reqs = make(chan readReq)
		c.results = make(chan lineResult, 1)
		go func() {
			for r := range c.reqs {
				l, err := c.readLine(r.secret, r.prompt)
				c.results <- lineResult{l, err}
			}
		}()
	}
	if !c.pending {
		c.reqs <- readReq{secret, prompt}
		c.pending = true
	} else if prompt != "" {
		fmt.Fprint(c.prompts, prompt)
	}
	return c.results
}

// took says the line want promised was received.
func (c *console) took() { c.pending = false }

// nextLine waits for the next line while ctx lasts; ok is false when ctx
// ended first.
func (c *console) nextLine(ctx context.Context, secret bool, prompt string) (lineResult, bool) {
	select {
	case <-ctx.Done():
		return lineResult{}, false
	case r := <-c.want(secret, prompt):
		c.took()
		return r, true
	}
}

// saveTerminal returns what puts the terminal back as it was, in case a
// read without echo was under way when the command ended.
func (c *console) saveTerminal() func() {
	if !c.tty {
		return func() {}
	}
	st, err := term.GetState(c.fd)
	if err != nil {
		return func() {}
	}
	return func() { _ = term.Restore(c.fd, st) }
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// sentence capitalises s and ends it with a full stop.
func sentence(s string) string {
	s = capitalize(strings.TrimSpace(s))
	if s != "" && !strings.ContainsAny(s[len(s)-1:], ".!?") {
		s += "."
	}
	return s
}

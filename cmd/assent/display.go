package main

// errNoDisplay is the one line said when the app's window cannot open:
// what is missing, and what works without a window.
func errNoDisplay(what string) error {
	return userErrorf("%s — use `assent listen` or another subcommand (assent help lists them)", what)
}

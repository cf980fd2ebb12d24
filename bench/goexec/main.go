// Command goexec is the floor under vault-exec's start-up time: a Go
// program that does nothing but replace itself with its arguments. The
// benchmark times it beside vault-exec, so that the cost of starting any Go
// program on the machine is told apart from vault-exec's own work.
package main

import (
	"os"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		os.Stderr.WriteString("usage: goexec /absolute/program [args...]\n")
		os.Exit(64)
	}
	err := syscall.Exec(os.Args[1], os.Args[1:], os.Environ())
	os.Stderr.WriteString("goexec: " + err.Error() + "\n")
	os.Exit(126)
}

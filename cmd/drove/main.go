// Command drove is the single drove binary: the controller server and the
// command-line client for the HTTP API.
package main

import (
	"fmt"
	"os"

	"github.com/drove-go/drove/cmd/drove/cli"
	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "drove",
		Short:         "drove: a container orchestrator with built-in consensus",
		Version:       Version + " (" + Commit + ")",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Drove's CLI reuses short letters globally and per command (-c is
		// --cluster before the command, --count on `cluster events`).
		TraverseChildren: true,
	}
	opts := &cli.Options{}
	opts.AddFlags(root.PersistentFlags())
	root.AddCommand(newControllerCommand())
	root.AddCommand(newExecutorCommand())
	root.AddCommand(cli.Commands(opts)...)
	return root
}

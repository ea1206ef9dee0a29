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
	root.AddCommand(newDevCommand())
	addMerged(root, cli.Commands(opts)...)
	return root
}

// addMerged adds commands to root; a client command group named like an
// existing command (the `executor` server command and the `executor list|info`
// client commands, both Drove's names) lends it its subcommands instead.
func addMerged(root *cobra.Command, cmds ...*cobra.Command) {
	for _, c := range cmds {
		existing, _, err := root.Find([]string{c.Name()})
		if err != nil || existing == root || existing.Name() != c.Name() {
			root.AddCommand(c)
			continue
		}
		for _, sub := range c.Commands() {
			c.RemoveCommand(sub)
			existing.AddCommand(sub)
		}
	}
}

package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Drove uses `executor` both for the server process and the client's
// executor commands; both must resolve.
func TestRootCommand_ExecutorServesBothRoles(t *testing.T) {
	root := newRootCommand()
	server, _, err := root.Find([]string{"executor"})
	require.NoError(t, err)
	require.NotNil(t, server.Flags().Lookup("controllers"), "`drove executor` runs the agent")
	for _, sub := range []string{"list", "info", "appinstances"} {
		c, _, err := root.Find([]string{"executor", sub})
		require.NoError(t, err)
		require.Equal(t, sub, c.Name())
		require.Equal(t, server, c.Parent())
	}
	for _, name := range []string{"controller", "cluster"} {
		c, _, err := root.Find([]string{name})
		require.NoError(t, err)
		require.Equal(t, name, c.Name())
	}
}

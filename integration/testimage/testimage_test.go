package testimage

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
)

func TestRequire(t *testing.T) {
	tag := Require(t)
	require.Equal(t, DefaultTag, tag)
	require.Equal(t, DefaultTag, Require(t), "cached")

	cli, err := client.New(client.FromEnv)
	require.NoError(t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	img, err := cli.ImageInspect(ctx, tag)
	require.NoError(t, err)
	require.Equal(t, []string{"/testapp"}, img.Config.Entrypoint)
	require.Contains(t, img.Config.ExposedPorts, "8000/tcp")
	require.Equal(t, "linux", img.Os)
}

func TestContextTar(t *testing.T) {
	a, err := contextTar([]byte("binary"))
	require.NoError(t, err)
	b, err := contextTar([]byte("binary"))
	require.NoError(t, err)
	require.Equal(t, a, b, "identical inputs give identical contexts (build cache hits)")
}

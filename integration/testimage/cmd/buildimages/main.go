// Command buildimages builds the container test images, drove-testapp:test
// and drove-testtask:test, on the Docker daemon the environment names
// (`make test-images`). Run it from inside the drove module.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/drove-go/drove/integration/testimage"
)

func main() {
	ctx := context.Background()
	if err := testimage.Build(ctx, testimage.DefaultTag); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("built", testimage.DefaultTag)
	if err := testimage.BuildTask(ctx, testimage.TaskTag); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("built", testimage.TaskTag)
}

// Command testtask is the tiny, static program that drove's task tests run
// (see package integration/testimage, which builds it into the FROM scratch
// image drove-testtask:test).
//
// It prints "testtask started", one line "arg N: VALUE" per argument, one
// line "env KEY=VALUE" per environment variable (sorted), then sleeps
// $SLEEP (a Go duration, default 0) and exits with code $EXIT_CODE (default
// 0), printing "testtask exiting with code N" first. On SIGTERM or SIGINT
// while sleeping it prints "got SIGTERM" (or "got SIGINT") and exits at once
// with the same code.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"
)

func main() {
	os.Exit(run())
}

func run() int {
	fmt.Println("testtask started")
	for i, a := range os.Args[1:] {
		fmt.Printf("arg %d: %s\n", i, a)
	}
	env := os.Environ()
	slices.Sort(env)
	for _, kv := range env {
		fmt.Println("env " + kv)
	}
	code := 0
	if v := os.Getenv("EXIT_CODE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testtask: EXIT_CODE:", err)
			return 2
		}
		code = n
	}
	var sleep time.Duration
	if v := os.Getenv("SLEEP"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testtask: SLEEP:", err)
			return 2
		}
		sleep = d
	}
	if sleep > 0 {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		select {
		case <-time.After(sleep):
		case sig := <-sigs:
			if sig == syscall.SIGINT {
				fmt.Println("got SIGINT")
			} else {
				fmt.Println("got SIGTERM")
			}
		}
	}
	fmt.Printf("testtask exiting with code %d\n", code)
	return code
}

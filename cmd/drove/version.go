package main

// Version and Commit are stamped at build time:
// go build -ldflags "-X main.Version=1.2.3 -X main.Commit=abc123".
var (
	Version = "dev"
	Commit  = "unknown"
)

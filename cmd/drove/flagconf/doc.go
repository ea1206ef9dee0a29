// Package flagconf fills command-line flags that were not given explicitly
// from environment variables and from a YAML configuration file.
//
// Precedence, highest first: a flag given on the command line, the
// environment variable (prefix + upper-snake flag name, e.g. DROVE_HTTP_ADDR
// for --http-addr), the key of the same name as the flag in the YAML file, and
// finally the flag's default. Repeatable flags (string arrays and slices)
// take comma-separated environment values and either a YAML list or a scalar.
package flagconf

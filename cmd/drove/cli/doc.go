// Package cli implements drove's client commands: the `cluster`,
// `executor`, `apps` and `appinstances` command trees that talk to a
// controller's HTTP API the way Drove's Python CLI does. With the global --json flag (long form only) every
// command prints the response data as indented JSON instead of a table;
// `cluster events --follow --json` prints one JSON object per line.
//
// Connection settings come from the global flags (see Options), from the
// environment (DROVE_ENDPOINT, DROVE_USERNAME, DROVE_PASSWORD) or from
// Drove's INI file ~/.drove:
//
//	[DEFAULT]
//	current_cluster = local
//
//	[local]
//	endpoint = http://localhost:4000
//	username = admin
//	password = admin
//	; auth_header = Bearer xyz
//	; insecure = true
//
// Commands use Client, which decodes Drove's response envelope
// {"status":"SUCCESS"|"FAILED","data":…,"message":…}.
//
// The global flags use Drove CLI's shorthands (-c cluster, -f file, -t auth
// header), which `cluster events` reuses for --count, --follow and --type as
// Drove does; there the global flags are available in their long form only.
// Likewise the operation commands (apps deploy|scale|suspend|restart,
// appinstances replace|kill) use -p/-t for --parallelism/--timeout, so
// --password and --auth-header are long-only there. Their -w/--wait follows
// the submitted operation via GET /apis/v1/applications/{id}/operation,
// printing progress to stderr, and fails unless it COMPLETED.
// Set TraverseChildren on the root command so that global flags placed before
// the subcommand (`drove -c prod cluster events -c 10`) are parsed by the root.
package cli

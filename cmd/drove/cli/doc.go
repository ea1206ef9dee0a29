// Package cli implements drove's client commands: the `cluster`,
// `executor`, `apps`, `appinstances`, `localservices`, `lsinstances` and
// `tasks` command trees that talk to a controller's HTTP API the way Drove's
// Python CLI does, and the `maintenance` tree for the controller's
// Mesos-style maintenance schedule (a drove extension, as are `executor
// drain|deactivate|reactivate`). With the global --json flag (long form only) every
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
// appinstances replace|kill, localservices restart, lsinstances
// replace|kill) use -p/-t for --parallelism/--timeout, so --password and
// --auth-header are long-only there. For applications -w/--wait follows
// the submitted operation via GET /apis/v1/applications/{id}/operation,
// printing progress to stderr, and fails unless it COMPLETED. For local
// services it polls GET /apis/v1/localservices/{id}/instances until the
// replaced or stopped instances are gone, as Drove's CLI intends. `tasks
// create --wait` (a drove extension) polls the task until it finished and
// fails unless its result is SUCCESSFUL.
// Set TraverseChildren on the root command so that global flags placed before
// the subcommand (`drove -c prod cluster events -c 10`) are parsed by the root.
package cli

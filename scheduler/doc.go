// Package scheduler decides where application instances run.
//
// It is a pure function of a read-only [State] (executors with their NUMA
// layout and the cores and memory already held, plus the instances that
// count for placement policies) and a [Request]; it returns [Placement]s
// and never talks to Raft, the network or the clock. The leader builds a
// State once per operation, opens a [Session], places instances and commits
// the resulting plan; a failed start gives its placement back with
// [Session.Release].
//
// # What it owns
//
//   - Resource fit, as in Drove (resourcemgmt/InMemoryClusterResourcesDB):
//     whole cores pinned on ONE NUMA node plus memory on that same node. Of
//     the nodes that fit, the one with the fewest free cores wins (best fit,
//     lowest node id on ties) and the lowest free core ids on it are taken.
//   - Placement policies (Drove's DefaultInstanceScheduler.validateNode):
//     ANY, ONE_PER_HOST, MAX_N_PER_HOST, MATCH_TAG, NO_TAG, RULE_BASED and
//     nested COMPOSITE AND/OR, with Drove's implicit NO_TAG (see
//     [EffectivePolicy]).
//   - The per-operation scheduling session: placements made by one session
//     count against each other for cores, memory and per-host limits.
//   - The submit-time capacity check with Drove's exact messages
//     ([CheckCapacity]) and the rule dry run ([CheckRule], [EvalRule]).
//
// # Choosing among executors
//
// Drove shuffles the executors and takes the first that fits. This package
// spreads instead: among the executors that pass the policy and fit the
// request, it prefers the one holding the fewest instances of the request's
// group, then the one with the most free cores, and breaks remaining ties by
// an order shuffled once per session with the injected *rand.Rand. Results
// are therefore reproducible for a given seed.
//
// # Cost
//
// A session precomputes, per distinct policy, a per-executor limit (policy
// evaluation is reduced to "instances of the group on this executor < limit",
// which AND/OR of ONE_PER_HOST, MAX_N_PER_HOST and static predicates always
// reduces to), and per group the instance count on each executor. One
// placement is then a single pass over flat slices: O(executors), with no
// dependency on the number of instances.
//
// # Rules
//
// RULE_BASED rules are boolean expressions compiled with
// github.com/expr-lang/expr over [SchedulingInfo] (executorNodeId,
// allocatedExecutorNodeMetadata, allExecutorMetadata,
// applicationEnvironment). See [CheckRule] for the accepted dialects.
//
// A Session is not safe for concurrent use; package-level functions are.
package scheduler

package scheduler

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// Rule types accepted by RULE_BASED policies.
const (
	RuleTypeMVEL = "MVEL"
	RuleTypeHOPE = "HOPE"
	RuleTypeEXPR = "EXPR"
)

// SchedulingInfo is what a RULE_BASED rule sees about one candidate
// executor (Drove's SchedulingInfo; also the dry-run request body).
//
// It doubles as the rule environment, so it must stay a plain data struct:
// any method added to it would become callable from rules.
type SchedulingInfo struct {
	// ExecutorNodeID is the candidate executor's id.
	ExecutorNodeID string `json:"executorNodeId" expr:"executorNodeId"`
	// AllocatedExecutorNodeMetadata is the candidate executor's metadata.
	AllocatedExecutorNodeMetadata map[string]string `json:"allocatedExecutorNodeMetadata" expr:"allocatedExecutorNodeMetadata"`
	// AllExecutorMetadata is every executor's metadata, by executor id.
	AllExecutorMetadata map[string]map[string]string `json:"allExecutorMetadata" expr:"allExecutorMetadata"`
	// ApplicationEnvironment is the application's environment.
	ApplicationEnvironment map[string]string `json:"applicationEnvironment" expr:"applicationEnvironment"`
}

// rootFields are the SchedulingInfo names rules may refer to; HOPE JSON
// pointers must start with one of them.
var rootFields = map[string]bool{
	"executorNodeId":                true,
	"allocatedExecutorNodeMetadata": true,
	"allExecutorMetadata":           true,
	"applicationEnvironment":        true,
}

// CheckRule compiles a rule and reports why it is invalid, or nil.
//
// Dialects (ruleType is case-insensitive):
//   - EXPR: expr-lang syntax over the SchedulingInfo fields, e.g.
//     `allocatedExecutorNodeMetadata.rack == "r1" && executorNodeId != "x"`.
//   - MVEL: the common subset of MVEL is already valid expr
//     (`executorNodeId == 'x'`, `a.b == 'c' && !(d.e == 'f')`, `m['k']`);
//     in addition the Java-style calls x.containsKey(k), x.get(k),
//     x.equals(y), x.startsWith(y), x.endsWith(y), x.contains(y),
//     x.isEmpty() and x.size() are rewritten to expr operators. Other
//     method calls, assignments, loops and imports are not supported.
//   - HOPE: single-quoted JSON pointers into SchedulingInfo
//     ('/allocatedExecutorNodeMetadata/rack') are translated to member
//     access before compiling; double-quoted strings are literals; the
//     operators ==, !=, <, <=, >, >=, &&, ||, ! work as in HOPE. HOPE
//     library functions (str.*, math.*, …) are not supported.
//
// A rule must yield a bool. Rules are sandboxed: the environment holds only
// data, and expr builtins are the only functions (now() is disabled so
// evaluation stays deterministic).
func CheckRule(rule, ruleType string) error {
	_, err := compileRule(rule, ruleType)
	return err
}

// EvalRule compiles a rule and evaluates it against info. An error means
// the rule does not compile, fails at run time, or does not yield a bool;
// the scheduler then rejects the executor.
func EvalRule(rule, ruleType string, info SchedulingInfo) (bool, error) {
	prog, err := compileRule(rule, ruleType)
	if err != nil {
		return false, err
	}
	var machine vm.VM
	return runRule(&machine, prog, info)
}

// compileRule parses, rewrites and type-checks a rule into a program.
func compileRule(rule, ruleType string) (*vm.Program, error) {
	if strings.TrimSpace(rule) == "" {
		return nil, fmt.Errorf("%w: empty rule", ErrInvalidRule)
	}
	opts := []expr.Option{
		expr.Env(SchedulingInfo{}),
		expr.AsBool(),
		expr.DisableBuiltin("now"),
	}
	src := rule
	switch strings.ToUpper(ruleType) {
	case RuleTypeEXPR:
	case RuleTypeMVEL:
		opts = append(opts, expr.Patch(mvelPatcher{}))
	case RuleTypeHOPE:
		var err error
		if src, err = translateHOPE(rule); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidRule, err)
		}
	default:
		return nil, fmt.Errorf("%w: unsupported rule type %q (want %s, %s or %s)",
			ErrInvalidRule, ruleType, RuleTypeMVEL, RuleTypeHOPE, RuleTypeEXPR)
	}
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRule, err)
	}
	return prog, nil
}

// runRule evaluates a compiled rule, reusing machine.
func runRule(machine *vm.VM, prog *vm.Program, info SchedulingInfo) (bool, error) {
	out, err := machine.Run(prog, info)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrInvalidRule, err)
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("%w: rule yielded %T, not bool", ErrInvalidRule, out)
	}
	return b, nil
}

// mvelPatcher rewrites the Java-style calls MVEL rules use into expr
// operators, so they compile without exposing any callable method.
type mvelPatcher struct{}

// Visit implements ast.Visitor; expr walks children first.
func (mvelPatcher) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	member, ok := call.Callee.(*ast.MemberNode)
	if !ok {
		return
	}
	name, ok := member.Property.(*ast.StringNode)
	if !ok {
		return
	}
	obj, args := member.Node, call.Arguments
	var repl ast.Node
	switch {
	case name.Value == "containsKey" && len(args) == 1:
		repl = &ast.BinaryNode{Operator: "in", Left: args[0], Right: obj}
	case name.Value == "get" && len(args) == 1:
		repl = &ast.MemberNode{Node: obj, Property: args[0]}
	case name.Value == "equals" && len(args) == 1:
		repl = &ast.BinaryNode{Operator: "==", Left: obj, Right: args[0]}
	case (name.Value == "startsWith" || name.Value == "endsWith" || name.Value == "contains") && len(args) == 1:
		repl = &ast.BinaryNode{Operator: name.Value, Left: obj, Right: args[0]}
	case name.Value == "isEmpty" && len(args) == 0:
		repl = &ast.BinaryNode{Operator: "==",
			Left: &ast.BuiltinNode{Name: "len", Arguments: []ast.Node{obj}}, Right: &ast.IntegerNode{Value: 0}}
	case name.Value == "size" && len(args) == 0:
		repl = &ast.BuiltinNode{Name: "len", Arguments: []ast.Node{obj}}
	default:
		return
	}
	ast.Patch(node, repl)
}

// translateHOPE rewrites HOPE's single-quoted JSON pointers into expr member
// access ('/allocatedExecutorNodeMetadata/rack' becomes
// allocatedExecutorNodeMetadata["rack"]); everything else is copied.
func translateHOPE(rule string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(rule); {
		c := rule[i]
		switch c {
		case '"', '`':
			end := quoteEnd(rule, i)
			if end < 0 {
				return "", fmt.Errorf("unterminated string at offset %d", i)
			}
			b.WriteString(rule[i : end+1])
			i = end + 1
		case '\'':
			end := quoteEnd(rule, i)
			if end < 0 {
				return "", fmt.Errorf("unterminated JSON pointer at offset %d", i)
			}
			access, err := pointerAccess(rule[i+1 : end])
			if err != nil {
				return "", err
			}
			b.WriteString(access)
			i = end + 1
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// quoteEnd returns the index of the quote closing the one at start, or -1.
// Backslash escapes the next byte except in backquoted strings.
func quoteEnd(s string, start int) int {
	q := s[start]
	for i := start + 1; i < len(s); i++ {
		switch {
		case s[i] == '\\' && q != '`':
			i++
		case s[i] == q:
			return i
		}
	}
	return -1
}

// pointerAccess turns a JSON pointer into expr member access on the rule
// environment.
func pointerAccess(ptr string) (string, error) {
	if !strings.HasPrefix(ptr, "/") {
		return "", fmt.Errorf("single-quoted value %q is not a JSON pointer (must start with '/')", ptr)
	}
	segs := strings.Split(ptr[1:], "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	if !rootFields[segs[0]] {
		return "", fmt.Errorf("JSON pointer %q does not start with one of executorNodeId, "+
			"allocatedExecutorNodeMetadata, allExecutorMetadata, applicationEnvironment", ptr)
	}
	var b strings.Builder
	b.WriteString("(")
	b.WriteString(segs[0])
	for _, s := range segs[1:] {
		b.WriteString("[")
		b.WriteString(strconv.Quote(s))
		b.WriteString("]")
	}
	b.WriteString(")")
	return b.String(), nil
}

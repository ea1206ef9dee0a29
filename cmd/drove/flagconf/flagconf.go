package flagconf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// skipped are flags that never come from the environment or a config file.
var skipped = map[string]bool{"config": true, "help": true}

// EnvName returns the environment variable consulted for the flag name:
// prefix followed by the name in upper case with '-' and '.' turned into '_'
// (prefix "DROVE_", flag "http-addr" gives DROVE_HTTP_ADDR).
func EnvName(prefix, name string) string {
	r := strings.NewReplacer("-", "_", ".", "_")
	return prefix + strings.ToUpper(r.Replace(name))
}

// Apply fills every flag of fs that was not set on the command line, first
// from the environment (prefix + upper-snake flag name: prefix "DROVE_", flag
// "http-addr" → DROVE_HTTP_ADDR), then from the YAML config file (keys = flag
// names, e.g. `http-addr: ":4000"`, `bootstrap-expect: 3`,
// `user: [a:b:ROLE, ...]`, `join: "h1:4002,h2:4002"` or a YAML list for slice
// flags). Precedence: flag > env > file > default.
//
// configFile "" means no file. Unknown keys in the file are an error naming
// the key and the file; a value that the flag rejects is an error naming the
// flag, the source (env var name or file) and the value. Empty environment
// variables count as unset. YAML null values are ignored. Flags filled by
// Apply are marked as changed, like flags given on the command line. The
// flags "config" and "help" are never filled.
func Apply(fs *pflag.FlagSet, prefix string, configFile string) error {
	file, err := load(fs, configFile)
	if err != nil {
		return err
	}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || skipped[f.Name] {
			return
		}
		env := EnvName(prefix, f.Name)
		if v, ok := os.LookupEnv(env); ok && v != "" {
			if err := setEnv(fs, f, v); err != nil {
				errs = append(errs, fmt.Errorf("invalid value %q for flag --%s from environment variable %s: %w", v, f.Name, env, err))
			}
			return
		}
		node, ok := file[f.Name]
		if !ok {
			return
		}
		if err := setNode(fs, f, node); err != nil {
			errs = append(errs, fmt.Errorf("invalid value %s for flag --%s from config file %s: %w", describe(node), f.Name, configFile, err))
		}
	})
	return errors.Join(errs...)
}

// load reads configFile into a map from flag name to YAML node, rejecting
// keys that name no flag.
func load(fs *pflag.FlagSet, configFile string) (map[string]*yaml.Node, error) {
	if configFile == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(configFile)
	if err != nil {
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parsing config file %s: %w", configFile, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config file %s: top level must be a mapping of flag names to values", configFile)
	}
	out := make(map[string]*yaml.Node, len(root.Content)/2)
	var unknown []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		f := fs.Lookup(k.Value)
		if f == nil || skipped[f.Name] {
			unknown = append(unknown, k.Value)
			continue
		}
		if _, dup := out[f.Name]; dup {
			return nil, fmt.Errorf("config file %s: key %q given twice (line %d)", configFile, k.Value, k.Line)
		}
		out[f.Name] = v
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("config file %s: unknown key(s) %s (keys must be flag names)", configFile, quoteAll(unknown))
	}
	return out, nil
}

// setEnv sets f from an environment value; slice flags split it on commas.
func setEnv(fs *pflag.FlagSet, f *pflag.Flag, v string) error {
	sv, ok := f.Value.(pflag.SliceValue)
	if !ok {
		return fs.Set(f.Name, v)
	}
	var parts []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	return replace(f, sv, parts)
}

// setNode sets f from a YAML value: scalars are passed to the flag as is,
// sequences of scalars set each element of a slice flag.
func setNode(fs *pflag.FlagSet, f *pflag.Flag, n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		return fs.Set(f.Name, n.Value)
	case yaml.SequenceNode:
		sv, ok := f.Value.(pflag.SliceValue)
		if !ok {
			return fmt.Errorf("flag takes a single %s value, not a list", f.Value.Type())
		}
		items := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("list element at line %d is not a plain value", c.Line)
			}
			items = append(items, c.Value)
		}
		return replace(f, sv, items)
	default:
		return errors.New("a mapping is not a valid flag value")
	}
}

// replace overwrites a slice flag's value and marks it as changed.
func replace(f *pflag.Flag, sv pflag.SliceValue, items []string) error {
	if err := sv.Replace(items); err != nil {
		return err
	}
	f.Changed = true
	return nil
}

// describe renders a YAML value for an error message.
func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return fmt.Sprintf("%q", n.Value)
	}
	out, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Sprintf("(line %d)", n.Line)
	}
	return strings.TrimSpace(strings.ReplaceAll(string(out), "\n", " "))
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

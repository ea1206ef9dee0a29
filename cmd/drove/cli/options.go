package cli

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/ini.v1"
)

// DefaultConfigFile is the default value of --file; "~/" is expanded to the
// user's home directory when the file is read.
const DefaultConfigFile = "~/.drove"

// Environment variables consulted when the matching flag is not given.
const (
	EnvEndpoint = "DROVE_ENDPOINT"
	EnvUsername = "DROVE_USERNAME"
	EnvPassword = "DROVE_PASSWORD"
)

// Options are the global client flags; AddFlags registers them.
type Options struct {
	File       string // path of Drove's INI config file (-f)
	Cluster    string // section of the config file to use (-c)
	Endpoint   string // controller base URL; skips the config file (-e)
	Username   string // basic-auth user (-u)
	Password   string // basic-auth password (-p)
	AuthHeader string // sent verbatim as Authorization when no username/password (-t)
	Insecure   bool   // skip TLS certificate verification (-i)
	Debug      bool   // print requests and response status to stderr (-d)
	JSON       bool   // print the response data as indented JSON instead of tables (--json, no shorthand)
}

// flagSpec describes one global flag, so that commands whose own shorthands
// clash can register long-only aliases bound to the same field.
type flagSpec struct {
	name, short, usage string
	str                *string
	def                string
	boolean            *bool
}

func (o *Options) specs() []flagSpec {
	return []flagSpec{
		{name: "file", short: "f", str: &o.File, def: DefaultConfigFile, usage: "Drove CLI config file (INI)"},
		{name: "cluster", short: "c", str: &o.Cluster, usage: "cluster (section of the config file) to use"},
		{name: "endpoint", short: "e", str: &o.Endpoint, usage: "controller endpoint URL, e.g. http://localhost:4000 (env " + EnvEndpoint + "); skips the config file"},
		{name: "username", short: "u", str: &o.Username, usage: "username for basic auth (env " + EnvUsername + ")"},
		{name: "password", short: "p", str: &o.Password, usage: "password for basic auth (env " + EnvPassword + ")"},
		{name: "auth-header", short: "t", str: &o.AuthHeader, usage: "Authorization header value, used when no username/password is set"},
		{name: "insecure", short: "i", boolean: &o.Insecure, usage: "do not verify the server's TLS certificate"},
		{name: "debug", short: "d", boolean: &o.Debug, usage: "print HTTP requests and response status to stderr"},
		{name: "json", boolean: &o.JSON, usage: "print the response data as indented JSON instead of a table"},
	}
}

// AddFlags registers the global client flags on fs (normally the root
// command's persistent flags): -f/--file (default ~/.drove), -c/--cluster,
// -e/--endpoint, -u/--username, -p/--password, -t/--auth-header,
// -i/--insecure, -d/--debug and --json (long form only).
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	for _, s := range o.specs() {
		if s.boolean != nil {
			fs.BoolVarP(s.boolean, s.name, s.short, false, s.usage)
		} else {
			fs.StringVarP(s.str, s.name, s.short, s.def, s.usage)
		}
	}
}

// addLongAliases registers the named global flags on fs without their
// shorthand, bound to the same fields, so that fs may reuse the letters.
func (o *Options) addLongAliases(fs *pflag.FlagSet, names ...string) {
	for _, s := range o.specs() {
		for _, n := range names {
			if n != s.name {
				continue
			}
			if s.boolean != nil {
				fs.BoolVar(s.boolean, s.name, *s.boolean, s.usage)
			} else {
				fs.StringVar(s.str, s.name, s.def, s.usage+" (global -"+s.short+")")
			}
		}
	}
}

// Config is a resolved connection configuration.
type Config struct {
	Endpoint   string // base URL without trailing slash
	Username   string
	Password   string
	AuthHeader string
	Insecure   bool
	Source     string // where the endpoint came from, for messages
}

// Resolve works out the connection settings. Flags beat the environment,
// which beats the config file. When an endpoint is given (flag or
// DROVE_ENDPOINT) the file is not read at all; otherwise the section named
// by --cluster, else by current_cluster in [DEFAULT], else the [DEFAULT] keys
// themselves are used. Keys missing from a section fall back to [DEFAULT].
func (o *Options) Resolve() (Config, error) {
	cfg := Config{
		Endpoint:   firstNonEmpty(o.Endpoint, os.Getenv(EnvEndpoint)),
		Username:   firstNonEmpty(o.Username, os.Getenv(EnvUsername)),
		Password:   firstNonEmpty(o.Password, os.Getenv(EnvPassword)),
		AuthHeader: o.AuthHeader,
		Insecure:   o.Insecure,
		Source:     "command line",
	}
	if cfg.Endpoint == "" {
		if err := o.fromFile(&cfg); err != nil {
			return Config{}, err
		}
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Config{}, fmt.Errorf("invalid endpoint %q (from %s): want http(s)://host:port", cfg.Endpoint, cfg.Source)
	}
	cfg.Endpoint = strings.TrimRight(cfg.Endpoint, "/")
	return cfg, nil
}

// fromFile fills cfg from the INI config file.
func (o *Options) fromFile(cfg *Config) error {
	name := firstNonEmpty(o.File, DefaultConfigFile)
	path, err := expandHome(name)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no cluster endpoint: pass -e URL or create %s", name)
	}
	f, err := ini.LoadSources(ini.LoadOptions{
		ChildSectionDelimiter: "\x00", // cluster names may contain dots
		IgnoreInlineComment:   true,   // like Python's configparser
		InsensitiveKeys:       true,
	}, path)
	if err != nil {
		return fmt.Errorf("reading config file %s: %w", path, err)
	}
	def := f.Section(ini.DefaultSection)
	sec, label := def, ini.DefaultSection
	if cluster := firstNonEmpty(o.Cluster, def.Key("current_cluster").String()); cluster != "" {
		s, err := f.GetSection(cluster)
		if err != nil || cluster == ini.DefaultSection {
			return fmt.Errorf("cluster %q not found in %s (clusters: %s)", cluster, path, clusterNames(f))
		}
		sec, label = s, cluster
	}
	get := func(key string) string {
		if k, err := sec.GetKey(key); err == nil {
			return strings.TrimSpace(k.String())
		}
		if k, err := def.GetKey(key); err == nil {
			return strings.TrimSpace(k.String())
		}
		return ""
	}
	cfg.Source = fmt.Sprintf("cluster %s in %s", label, path)
	cfg.Endpoint = get("endpoint")
	if cfg.Endpoint == "" {
		return fmt.Errorf("no endpoint configured for %s: pass -e URL or set endpoint", cfg.Source)
	}
	cfg.Username = firstNonEmpty(cfg.Username, get("username"))
	cfg.Password = firstNonEmpty(cfg.Password, get("password"))
	cfg.AuthHeader = firstNonEmpty(cfg.AuthHeader, get("auth_header"))
	if v := get("insecure"); v != "" && !cfg.Insecure {
		b, err := parseBool(v)
		if err != nil {
			return fmt.Errorf("%s: insecure: %w", cfg.Source, err)
		}
		cfg.Insecure = b
	}
	return nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", v)
}

func clusterNames(f *ini.File) string {
	var names []string
	for _, s := range f.Sections() {
		if s.Name() != ini.DefaultSection {
			names = append(names, s.Name())
		}
	}
	if len(names) == 0 {
		return "none"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expanding %s: %w", p, err)
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

// timeLayout is how epoch-ms timestamps are shown, in local time.
const timeLayout = "2006-01-02 15:04:05"

// formatTime renders epoch milliseconds as local time; 0 renders as "-".
func formatTime(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).Local().Format(timeLayout)
}

// newTable returns a tabwriter for aligned columns; call Flush when done.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// call performs a request without body. Normally it decodes the response
// data into out; with --json it prints the data as indented JSON instead and
// returns printed=true, and the caller must then print nothing more.
func (o *Options) call(cmd *cobra.Command, c *Client, method, path string, query url.Values, out any) (printed bool, err error) {
	if !o.JSON {
		return false, c.DoContext(cmd.Context(), method, path, query, nil, out)
	}
	var raw json.RawMessage
	if err := c.DoContext(cmd.Context(), method, path, query, nil, &raw); err != nil {
		return false, err
	}
	return true, writeJSON(cmd.OutOrStdout(), raw)
}

// writeJSON prints v as indented JSON (json.RawMessage is re-indented; nil
// prints null), without HTML escaping.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// metaValue renders one raw JSON metadata value: strings unquoted, anything
// else as compact JSON.
func metaValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// formatMetadata renders metadata as k=v pairs sorted by key.
func formatMetadata(md map[string]json.RawMessage) string {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + metaValue(md[k])
	}
	return strings.Join(parts, ",")
}

// eventLine is the default one-line event form: TIME TYPE id k=v,...
func eventLine(ev Event) string {
	line := formatTime(ev.Time) + " " + ev.Type + " " + ev.ID
	if md := formatMetadata(ev.Metadata); md != "" {
		line += " " + md
	}
	return line
}

// eventFields are the fields usable in an events --textfmt template.
func eventFields(ev Event) map[string]string {
	md := "{}"
	if len(ev.Metadata) > 0 {
		if raw, err := json.Marshal(ev.Metadata); err == nil {
			md = string(raw)
		}
	}
	return map[string]string{
		"type":     ev.Type,
		"id":       ev.ID,
		"time":     formatTime(ev.Time),
		"metadata": md,
	}
}

// formatTemplate expands a Python str.format style template as used by
// Drove CLI's --textfmt: {name} or {name:[[fill]align][width]} with align
// one of < > ^, and {{ / }} for literal braces.
func formatTemplate(tmpl string, fields map[string]string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		ch := tmpl[i]
		switch {
		case ch == '{' && strings.HasPrefix(tmpl[i:], "{{"):
			b.WriteByte('{')
			i++
		case ch == '}' && strings.HasPrefix(tmpl[i:], "}}"):
			b.WriteByte('}')
			i++
		case ch == '{':
			end := strings.IndexByte(tmpl[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("format %q: unclosed '{'", tmpl)
			}
			name, spec, _ := strings.Cut(tmpl[i+1:i+end], ":")
			val, ok := fields[strings.TrimSpace(name)]
			if !ok {
				return "", fmt.Errorf("format %q: unknown field %q (known: id, metadata, time, type)", tmpl, name)
			}
			padded, err := pad(val, spec)
			if err != nil {
				return "", fmt.Errorf("format %q: %w", tmpl, err)
			}
			b.WriteString(padded)
			i += end
		case ch == '}':
			return "", fmt.Errorf("format %q: single '}'", tmpl)
		default:
			b.WriteByte(ch)
		}
	}
	return b.String(), nil
}

// pad applies a [[fill]align][width] spec.
func pad(val, spec string) (string, error) {
	if spec == "" {
		return val, nil
	}
	fill, align := " ", byte('<')
	if r, size := utf8.DecodeRuneInString(spec); len(spec) > size && strings.ContainsRune("<>^", rune(spec[size])) {
		fill, align, spec = string(r), spec[size], spec[size+1:]
	} else if strings.ContainsRune("<>^", rune(spec[0])) {
		align, spec = spec[0], spec[1:]
	}
	width := 0
	if spec != "" {
		w, err := strconv.Atoi(spec)
		if err != nil || w < 0 {
			return "", fmt.Errorf("unsupported format spec %q", spec)
		}
		width = w
	}
	n := width - utf8.RuneCountInString(val)
	if n <= 0 {
		return val, nil
	}
	switch align {
	case '>':
		return strings.Repeat(fill, n) + val, nil
	case '^':
		return strings.Repeat(fill, n/2) + val + strings.Repeat(fill, n-n/2), nil
	default:
		return val + strings.Repeat(fill, n), nil
	}
}

package model

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Duration is a Dropwizard duration (io.dropwizard.util.Duration), the form
// every duration takes in Drove's JSON: a string "<integer><optional
// spaces><unit>" such as "5m", "100 seconds" or "1 second". It keeps the unit
// it was given, so it is written back in Drove's normalised form
// "<n> <unit plural lowercase>" with the singular when n == 1 ("5m" is written
// "5 minutes", "1 s" is written "1 second").
//
// The zero value means "unset" and is distinct from an explicit zero such as
// "0 seconds": IsZero reports unset, so fields tagged `json:",omitzero"` are
// omitted only when unset.
type Duration struct {
	count int64
	unit  durationUnit // 0: unset
}

// durationUnit indexes durationUnits; 0 means unset.
type durationUnit uint8

const (
	unitNone durationUnit = iota
	unitNanoseconds
	unitMicroseconds
	unitMilliseconds
	unitSeconds
	unitMinutes
	unitHours
	unitDays
)

var durationUnits = [...]struct {
	name string // plural, as Java's TimeUnit name lower-cased
	size time.Duration
}{
	unitNone:         {"", 0},
	unitNanoseconds:  {"nanoseconds", time.Nanosecond},
	unitMicroseconds: {"microseconds", time.Microsecond},
	unitMilliseconds: {"milliseconds", time.Millisecond},
	unitSeconds:      {"seconds", time.Second},
	unitMinutes:      {"minutes", time.Minute},
	unitHours:        {"hours", time.Hour},
	unitDays:         {"days", 24 * time.Hour},
}

// durationSuffixes are Dropwizard's accepted unit spellings (matched
// case-insensitively here).
var durationSuffixes = map[string]durationUnit{
	"ns": unitNanoseconds, "nanosecond": unitNanoseconds, "nanoseconds": unitNanoseconds,
	"us": unitMicroseconds, "microsecond": unitMicroseconds, "microseconds": unitMicroseconds,
	"ms": unitMilliseconds, "millisecond": unitMilliseconds, "milliseconds": unitMilliseconds,
	"s": unitSeconds, "second": unitSeconds, "seconds": unitSeconds,
	"m": unitMinutes, "min": unitMinutes, "mins": unitMinutes, "minute": unitMinutes, "minutes": unitMinutes,
	"h": unitHours, "hour": unitHours, "hours": unitHours,
	"d": unitDays, "day": unitDays, "days": unitDays,
}

// durationUnitsHelp lists the accepted units for error messages.
const durationUnitsHelp = "ns, us, ms, s, m, min, h, d or their long forms such as seconds, minutes"

// ParseDuration parses a Dropwizard duration string: an unsigned integer,
// optional spaces and a unit (ns, nanosecond(s), us, microsecond(s), ms,
// millisecond(s), s, second(s), m, min, mins, minute(s), h, hour(s), d,
// day(s); case-insensitive). Surrounding spaces are ignored. The error names
// the text.
func ParseDuration(s string) (Duration, error) {
	text := strings.TrimSpace(s)
	i := 0
	for i < len(text) && text[i] >= '0' && text[i] <= '9' {
		i++
	}
	if i == 0 {
		return Duration{}, fmt.Errorf("invalid duration %q: want a number followed by a unit, e.g. \"5 seconds\"", s)
	}
	unitText := strings.TrimLeft(text[i:], " \t")
	if unitText == "" {
		return Duration{}, fmt.Errorf("invalid duration %q: missing time unit (%s)", s, durationUnitsHelp)
	}
	unit, ok := durationSuffixes[strings.ToLower(unitText)]
	if !ok {
		return Duration{}, fmt.Errorf("invalid duration %q: unknown time unit %q (%s)", s, unitText, durationUnitsHelp)
	}
	count, err := strconv.ParseInt(text[:i], 10, 64)
	if err != nil || count > int64(math.MaxInt64/durationUnits[unit].size) {
		return Duration{}, fmt.Errorf("invalid duration %q: out of range", s)
	}
	return Duration{count: count, unit: unit}, nil
}

// MustParseDuration is ParseDuration that panics on error, for constants and tests.
func MustParseDuration(s string) Duration {
	d, err := ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

// NewDuration returns d expressed in the largest unit that represents it
// exactly (90s is "90 seconds", 5m is "5 minutes", 0 is "0 seconds").
// Negative durations are clamped to zero: Drove durations are unsigned.
func NewDuration(d time.Duration) Duration {
	if d <= 0 {
		return Duration{count: 0, unit: unitSeconds}
	}
	for u := unitDays; u > unitNone; u-- {
		if size := durationUnits[u].size; d%size == 0 {
			return Duration{count: int64(d / size), unit: u}
		}
	}
	return Duration{count: int64(d), unit: unitNanoseconds}
}

// IsZero reports whether d is unset (the zero value). An explicit "0 seconds"
// is set and not zero in this sense.
func (d Duration) IsZero() bool { return d.unit == unitNone }

// D returns d as a time.Duration (0 when unset).
func (d Duration) D() time.Duration {
	if d.unit == unitNone {
		return 0
	}
	return time.Duration(d.count) * durationUnits[d.unit].size
}

// Or returns d, or def when d is unset.
func (d Duration) Or(def Duration) Duration {
	if d.IsZero() {
		return def
	}
	return d
}

// String is Drove's normalised form: "<n> <unit plural lowercase>", singular
// when n == 1 ("100 seconds", "1 second"); "" when unset.
func (d Duration) String() string {
	if d.unit == unitNone {
		return ""
	}
	name := durationUnits[d.unit].name
	if d.count == 1 {
		name = strings.TrimSuffix(name, "s")
	}
	return strconv.FormatInt(d.count, 10) + " " + name
}

// MarshalJSON writes the normalised string, or null when unset.
func (d Duration) MarshalJSON() ([]byte, error) {
	if d.unit == unitNone {
		return []byte("null"), nil
	}
	return json.Marshal(d.String())
}

// UnmarshalJSON accepts a duration string; null leaves d unchanged. Anything
// else (a number, a bad unit) fails with a *json.UnmarshalTypeError, so
// encoding/json adds the field path to the message.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{
			Value: jsonKind(b) + ` (durations are strings such as "5 seconds")`,
			Type:  reflect.TypeFor[Duration](),
		}
	}
	v, err := ParseDuration(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: err.Error(), Type: reflect.TypeFor[Duration]()}
	}
	*d = v
	return nil
}

// jsonKind describes a JSON value for error messages ("number 5", "object", …).
func jsonKind(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "empty value"
	}
	switch s[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string " + s
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number " + s
}

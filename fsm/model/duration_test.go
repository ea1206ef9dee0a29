package model

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"7ns", 7, "7 nanoseconds"},
		{"1 nanosecond", 1, "1 nanosecond"},
		{"2 nanoseconds", 2, "2 nanoseconds"},
		{"3us", 3 * time.Microsecond, "3 microseconds"},
		{"1 microsecond", time.Microsecond, "1 microsecond"},
		{"4 microseconds", 4 * time.Microsecond, "4 microseconds"},
		{"3ms", 3 * time.Millisecond, "3 milliseconds"},
		{"1 millisecond", time.Millisecond, "1 millisecond"},
		{"250 milliseconds", 250 * time.Millisecond, "250 milliseconds"},
		{"100 seconds", 100 * time.Second, "100 seconds"},
		{"1 second", time.Second, "1 second"},
		{"1s", time.Second, "1 second"},
		{"0 seconds", 0, "0 seconds"},
		{"5m", 5 * time.Minute, "5 minutes"},
		{"5 min", 5 * time.Minute, "5 minutes"},
		{"5 mins", 5 * time.Minute, "5 minutes"},
		{"1 minute", time.Minute, "1 minute"},
		{"15 minutes", 15 * time.Minute, "15 minutes"},
		{"2h", 2 * time.Hour, "2 hours"},
		{"1 hour", time.Hour, "1 hour"},
		{"3 hours", 3 * time.Hour, "3 hours"},
		{"1d", day, "1 day"},
		{"1 day", day, "1 day"},
		{"2 days", 2 * day, "2 days"},
		{"10SECONDS", 10 * time.Second, "10 seconds"},
		{"10 Seconds", 10 * time.Second, "10 seconds"},
		{"3MS", 3 * time.Millisecond, "3 milliseconds"},
		{"10   s", 10 * time.Second, "10 seconds"},
		{"10\ts", 10 * time.Second, "10 seconds"},
		{"  10 s  ", 10 * time.Second, "10 seconds"},
		{"007 seconds", 7 * time.Second, "7 seconds"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			d, err := ParseDuration(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, d.D())
			require.Equal(t, tc.out, d.String())
			require.False(t, d.IsZero())
			b, err := json.Marshal(d)
			require.NoError(t, err)
			require.Equal(t, `"`+tc.out+`"`, string(b))
			var back Duration
			require.NoError(t, json.Unmarshal(b, &back))
			require.Equal(t, d, back, "normalised form round-trips to the same value")
		})
	}
}

func TestParseDurationErrors(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"", `invalid duration "": want a number followed by a unit`},
		{"   ", `invalid duration "   ": want a number followed by a unit`},
		{"seconds", `invalid duration "seconds": want a number`},
		{"10", `invalid duration "10": missing time unit`},
		{"10 parsecs", `invalid duration "10 parsecs": unknown time unit "parsecs"`},
		{"-5 seconds", `invalid duration "-5 seconds": want a number`},
		{"1.5 seconds", `invalid duration "1.5 seconds": unknown time unit ".5 seconds"`},
		{"5 sec onds", `unknown time unit "sec onds"`},
		{"5 secs", `unknown time unit "secs"`},
		{"PT5S", `invalid duration "PT5S"`},
		{"99999999999999999999 seconds", `invalid duration "99999999999999999999 seconds": out of range`},
		{"9223372036854775807 days", `out of range`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseDuration(tc.in)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
	require.Panics(t, func() { MustParseDuration("x") })
}

func TestDurationJSON(t *testing.T) {
	type holder struct {
		D Duration  `json:"d,omitzero"`
		P *Duration `json:"p,omitempty"`
	}
	var h holder
	require.NoError(t, json.Unmarshal([]byte(`{"d":"5m","p":"1 s"}`), &h))
	require.Equal(t, 5*time.Minute, h.D.D())
	require.Equal(t, time.Second, h.P.D())
	b, err := json.Marshal(h)
	require.NoError(t, err)
	require.JSONEq(t, `{"d":"5 minutes","p":"1 second"}`, string(b))

	// unset is omitted; an explicit zero is kept
	b, err = json.Marshal(holder{})
	require.NoError(t, err)
	require.JSONEq(t, `{}`, string(b))
	b, err = json.Marshal(holder{D: MustParseDuration("0s")})
	require.NoError(t, err)
	require.JSONEq(t, `{"d":"0 seconds"}`, string(b))

	// null leaves it unset; an unset value marshals as null
	h = holder{}
	require.NoError(t, json.Unmarshal([]byte(`{"d":null}`), &h))
	require.True(t, h.D.IsZero())
	b, err = json.Marshal(Duration{})
	require.NoError(t, err)
	require.Equal(t, "null", string(b))

	for _, tc := range []struct{ in, msg string }{
		{`{"d":5}`, `number 5 (durations are strings such as "5 seconds")`},
		{`{"d":true}`, `bool (durations are strings`},
		{`{"d":{}}`, `object (durations are strings`},
		{`{"d":"5 parsecs"}`, `unknown time unit "parsecs"`},
	} {
		err := json.Unmarshal([]byte(tc.in), &h)
		require.Error(t, err, tc.in)
		require.Contains(t, err.Error(), tc.msg)
		require.Contains(t, err.Error(), "holder.d", "the error names the field")
	}
}

func TestDurationHelpers(t *testing.T) {
	var unset Duration
	require.True(t, unset.IsZero())
	require.Equal(t, time.Duration(0), unset.D())
	require.Equal(t, "", unset.String())
	def := MustParseDuration("3 seconds")
	require.Equal(t, def, unset.Or(def))
	zero := MustParseDuration("0 ms")
	require.Equal(t, zero, zero.Or(def), "an explicit zero is set")

	for _, tc := range []struct {
		in  time.Duration
		out string
	}{
		{0, "0 seconds"},
		{-time.Second, "0 seconds"},
		{time.Nanosecond, "1 nanosecond"},
		{1500 * time.Microsecond, "1500 microseconds"},
		{90 * time.Second, "90 seconds"},
		{5 * time.Minute, "5 minutes"},
		{48 * time.Hour, "2 days"},
		{25 * time.Hour, "25 hours"},
	} {
		d := NewDuration(tc.in)
		require.Equal(t, tc.out, d.String())
		if tc.in > 0 {
			require.Equal(t, tc.in, d.D())
		}
	}
}

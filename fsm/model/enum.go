package model

import "strings"

// upper normalises enum input: Drove accepts enum values case-insensitively
// and always emits them upper-case.
func upper(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

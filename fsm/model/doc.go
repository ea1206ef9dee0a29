// Package model holds drove's replicated data model: the plain types stored in
// the FSM and served on the HTTP API, with Drove's JSON field names. It is a
// leaf package: standard library only, no behaviour beyond validation and
// small derived values, so every other layer can share it.
package model

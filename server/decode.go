package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxBodyBytes bounds request bodies (specs are small).
const maxBodyBytes = 8 << 20

// decodeJSON decodes r's body into v. Unknown fields are ignored, as Drove's
// mapper does. An empty body is accepted when allowEmpty; a form-encoded
// empty body (curl --data ”) counts as empty. Errors name the problem and,
// where known, the field and offset.
func decodeJSON(r *http.Request, v any, allowEmpty bool) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return &jsonError{fmt.Errorf("reading request body: %w", err)}
	}
	if len(data) > maxBodyBytes {
		return &jsonError{fmt.Errorf("request body exceeds %d bytes", maxBodyBytes)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if allowEmpty {
			return nil
		}
		return &jsonError{errors.New("request body is empty; a JSON object is required")}
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") && allowEmpty && data[0] != '{' {
		return nil // curl --data 'x' without a content type; Drove ignores such bodies
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return &jsonError{describeJSONError(err)}
	}
	if dec.More() {
		return &jsonError{fmt.Errorf("unexpected data after the JSON value at offset %d", dec.InputOffset())}
	}
	return nil
}

func describeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("malformed JSON at offset %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(root)"
		}
		return fmt.Errorf("field %s: expected %s, got JSON %s at offset %d", field, typ.Type, typ.Value, typ.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("malformed JSON: unexpected end of input")
	}
	return fmt.Errorf("malformed JSON: %v", err)
}

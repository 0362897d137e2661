package main

import (
	"encoding/json"
	"io"
)

// writeJSON prints v as indented JSON for a person and a program alike:
// without HTML escaping, so a flow reads "A->B" and not "A-\u003eB".
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

package flows

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxFileSize is the largest flow file mm2go reads: 1 MiB. A flow file is
// a few kilobytes; anything near this size is the wrong file (a device, a
// log, a binary), and reading it whole would cost memory for nothing.
const MaxFileSize = 1 << 20

// Longest key and value a flow file may hold. Kafka's names are at most 249
// bytes; a long list of topics or a JAAS config fits easily. Past these,
// the input is not a flow file, and regex compilation and suggestions
// would spend seconds on it.
const (
	maxKeyLen   = 1 << 10
	maxValueLen = 64 << 10
)

// maxWarnings is how many warnings a file may give; the rest are counted.
const maxWarnings = 1000

// errTooLarge says a flow file or a file a config provider reads is too
// large.
func errTooLarge(what string) error {
	return fmt.Errorf("%s is larger than %d bytes (1 MiB); a flow file is a few kilobytes: is this the right file?", what, MaxFileSize)
}

// badRune returns the first rune of s that has no place in a flow file's
// keys or values, and a name for it: control characters (NUL and the
// like; tab, line feed and carriage return are allowed where space is),
// DEL, C1 controls (what Latin-1 bytes 0x80-0x9F become), Unicode's
// direction overrides (which make text read differently than it is) and
// bytes that are not UTF-8. ok is false when s is clean.
func badRune(s string, spaceOK bool) (r rune, what string, ok bool) {
	for i, c := range s {
		switch {
		case c == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return rune(s[i]), fmt.Sprintf("the byte 0x%02X, which is not UTF-8", s[i]), true
		case c == '\t' || c == '\n' || c == '\r':
			if !spaceOK {
				return c, fmt.Sprintf("the control character %U", c), true
			}
		case c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0):
			name := ""
			if c == 0 {
				name = " (NUL)"
			}
			return c, fmt.Sprintf("the control character %U%s", c, name), true
		case isBidiControl(c):
			return c, fmt.Sprintf("the Unicode direction control %U", c), true
		}
	}
	return 0, "", false
}

// isBidiControl reports whether r changes the direction text is shown in.
func isBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}

// printable returns s with everything a terminal should not be handed raw
// escaped Go-style (\x00, \n, \u202e): control characters, direction
// controls and bytes that are not UTF-8. Messages quote what a user wrote,
// and that may be anything.
func printable(s string) string {
	clean := true
	for i, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || isBidiControl(c) || c == 0x2028 || c == 0x2029 ||
			(c == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD")) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		case (c >= 0x80 && c < 0xa0) || isBidiControl(c) || c == 0x2028 || c == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// secretSet holds the values config providers resolved, so that no message
// shows them.
type secretSet struct {
	values []string        // resolved values, longest first
	paths  map[string]bool // where a value came from a provider, as in FieldError.Path
}

// add records a value resolved for the key at path.
func (s *secretSet) add(path, value string) {
	if s.paths == nil {
		s.paths = make(map[string]bool)
	}
	s.paths[path] = true
	s.addValue(value)
}

// list returns the resolved values.
func (s *secretSet) list() []string {
	if s == nil || len(s.values) == 0 {
		return nil
	}
	return append([]string(nil), s.values...)
}

// addValue records a value a provider resolved.
func (s *secretSet) addValue(value string) {
	if value == "" {
		return
	}
	for i, v := range s.values {
		if v == value {
			return
		}
		if len(v) < len(value) {
			s.values = append(s.values[:i], append([]string{value}, s.values[i:]...)...)
			return
		}
	}
	s.values = append(s.values, value)
}

// quoted matches a quoted string in a message: Go's %q or quote().
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// redacted stands in for a secret.
const redacted = "[redacted: from a config provider]"

// scrub returns msg, a message about path, without any value a config
// provider resolved: every quoted text of a message about a key whose
// value came from a provider is replaced (it may quote part of the value),
// and so is every occurrence of a resolved value anywhere (values under 4
// bytes only where quoted, so that a resolved "1" does not blot out every
// digit).
func (s *secretSet) scrub(path, msg string) string {
	if s == nil || (len(s.paths) == 0 && len(s.values) == 0) {
		return msg
	}
	if s.paths[path] {
		msg = quoted.ReplaceAllString(msg, `"`+redacted+`"`)
	}
	for _, v := range s.values {
		if len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, redacted)
			msg = strings.ReplaceAll(msg, printable(v), redacted)
		}
		msg = strings.ReplaceAll(msg, fmt.Sprintf("%q", v), `"`+redacted+`"`)
		msg = strings.ReplaceAll(msg, quote(v), `"`+redacted+`"`)
	}
	return msg
}

// clean returns what may be shown of a message about path: secrets
// scrubbed, then escaped.
func (s *secretSet) clean(path, msg string) string {
	return printable(s.scrub(path, msg))
}

// cleanError returns err with every FieldError in it cleaned (see clean),
// and any other error's text scrubbed of secrets and escaped.
func (s *secretSet) cleanError(err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, s.cleanError(e))
		}
		return errors.Join(out...)
	}
	if fe, ok := err.(*FieldError); ok {
		return &FieldError{Path: printable(fe.Path), Msg: s.clean(fe.Path, fe.Msg)}
	}
	// Not wrapped: what it wraps may show a secret.
	return errors.New(s.clean("", err.Error()))
}

// flattenErrors flattens joined errors.
func flattenErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrors(e)...)
		}
		return out
	}
	return []error{err}
}

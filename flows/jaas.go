package flows

import (
	"fmt"
	"strings"
)

// parseJAAS parses a sasl.jaas.config value: exactly one
// "<LoginModule> <flag> key=value ... ;" entry, values quoted or bare, with
// Java's // and /* */ comments.
func parseJAAS(s string) (module string, opts map[string]string, err error) {
	toks, err := jaasTokens(s)
	if err != nil {
		return "", nil, err
	}
	next := func() (jaasToken, bool) {
		if len(toks) == 0 {
			return jaasToken{}, false
		}
		t := toks[0]
		toks = toks[1:]
		return t, true
	}
	mod, ok := next()
	if !ok {
		return "", nil, fmt.Errorf("parse sasl.jaas.config: empty; want <LoginModule> required username=\"...\" password=\"...\";")
	}
	if mod.kind != 'w' {
		return "", nil, fmt.Errorf("parse sasl.jaas.config: expected a login module class, got %s", mod.describe())
	}
	flag, ok := next()
	if !ok || flag.kind != 'w' { // a quoted value is never shown: it may be a secret
		return "", nil, fmt.Errorf("parse sasl.jaas.config: expected a control flag (required) after %s", mod.text)
	}
	switch strings.ToLower(flag.text) {
	case "required", "requisite", "sufficient", "optional":
	default:
		return "", nil, fmt.Errorf("parse sasl.jaas.config: unknown control flag %q; want required", flag.text)
	}
	opts = make(map[string]string)
	for {
		t, ok := next()
		if !ok {
			return "", nil, fmt.Errorf("parse sasl.jaas.config: entry not terminated by ;")
		}
		if t.kind == ';' {
			break
		}
		if t.kind != 'w' {
			return "", nil, fmt.Errorf("parse sasl.jaas.config: expected an option name, got %s", t.describe())
		}
		eq, ok := next()
		if !ok || eq.kind != '=' {
			return "", nil, fmt.Errorf("parse sasl.jaas.config: expected = after option %s", t.text)
		}
		v, ok := next()
		if !ok || (v.kind != 'w' && v.kind != '"') {
			return "", nil, fmt.Errorf("parse sasl.jaas.config: no value for option %s", t.text)
		}
		opts[t.text] = v.text
	}
	if len(toks) > 0 {
		return "", nil, fmt.Errorf("parse sasl.jaas.config: more than one login module; Kafka takes exactly one")
	}
	return mod.text, opts, nil
}

// jaasToken is a word ('w'), a quoted string ('"'), '=' or ';'.
type jaasToken struct {
	kind byte
	text string
}

// describe returns the token for an error message: a quoted value is not
// shown, since it may be a password.
func (t jaasToken) describe() string {
	if t.kind == '"' {
		return "a quoted value"
	}
	return fmt.Sprintf("%q", t.text)
}

func jaasTokens(s string) ([]jaasToken, error) {
	var toks []jaasToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case strings.HasPrefix(s[i:], "//"):
			end := strings.IndexAny(s[i:], "\r\n")
			if end < 0 {
				end = len(s) - i
			}
			i += end
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("parse sasl.jaas.config: unterminated /* comment")
			}
			i += end + 4
		case c == '=' || c == ';':
			toks = append(toks, jaasToken{kind: c, text: string(c)})
			i++
		case c == '"' || c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != c; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
					switch s[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					case 'b':
						b.WriteByte('\b')
					case 'f':
						b.WriteByte('\f')
					default:
						b.WriteByte(s[j])
					}
					continue
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("parse sasl.jaas.config: unterminated quoted value")
			}
			toks = append(toks, jaasToken{kind: '"', text: b.String()})
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r\f=;\"'", rune(s[j])) && !strings.HasPrefix(s[j:], "//") && !strings.HasPrefix(s[j:], "/*") {
				j++
			}
			toks = append(toks, jaasToken{kind: 'w', text: s[i:j]})
			i = j
		}
	}
	return toks, nil
}

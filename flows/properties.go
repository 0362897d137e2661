package flows

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// property is one key/value of a .properties file.
type property struct {
	key, value string
	line       int // first line of the entry, 1-based
}

// parseProperties parses Java .properties syntax as java.util.Properties.load
// does: "#" and "!" comment lines, "key=value", "key: value" and
// "key value", a trailing odd backslash continuing the entry on the next
// line (whose leading whitespace is dropped), and the escapes \t \n \r \f
// \uXXXX and \<c> for any other c. Entries are returned in file order;
// later duplicates win when they are put in a map.
//
// Input that is not valid UTF-8 is read as ISO-8859-1, which is what Java
// uses for a byte stream; a UTF-8 byte order mark is skipped.
//
// An entry with a malformed \uXXXX escape is left out and reported: the
// error is an errors.Join of *lineError, one per such entry, and the other
// entries are returned.
func parseProperties(data []byte) ([]property, error) {
	var text string
	if utf8.Valid(data) {
		text = strings.TrimPrefix(string(data), "\uFEFF")
	} else {
		r := make([]rune, len(data))
		for i, b := range data {
			r[i] = rune(b)
		}
		text = string(r)
	}
	var out []property
	var errs []error
	lr := lineReader{s: text}
	for {
		logical, line, ok := lr.next()
		if !ok {
			return out, errors.Join(errs...)
		}
		keyEnd, valueStart := splitEntry(logical)
		key, err := unescape(logical[:keyEnd])
		if err != nil {
			errs = append(errs, &lineError{line: line, err: err})
			continue
		}
		value, err := unescape(logical[valueStart:])
		if err != nil {
			errs = append(errs, &lineError{line: line, key: key, err: err})
			continue
		}
		out = append(out, property{key: key, value: value, line: line})
	}
}

// lineError is an entry of a .properties file that cannot be read.
type lineError struct {
	line int
	key  string // "" when the key itself is bad
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }

// lineReader returns the logical lines of a .properties file: comments and
// blank lines skipped, continuations joined, leading whitespace dropped.
// Escapes are left in place.
type lineReader struct {
	s    string
	pos  int
	line int // lines consumed so far
}

func isPropSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

// natural returns the next natural line (without its terminator).
func (lr *lineReader) natural() (string, bool) {
	if lr.pos >= len(lr.s) {
		return "", false
	}
	rest := lr.s[lr.pos:]
	end := strings.IndexAny(rest, "\r\n")
	lr.line++
	if end < 0 {
		lr.pos = len(lr.s)
		return rest, true
	}
	lr.pos += end + 1
	if rest[end] == '\r' && end+1 < len(rest) && rest[end+1] == '\n' {
		lr.pos++
	}
	return rest[:end], true
}

// next returns the next logical line and the line number it starts on.
func (lr *lineReader) next() (logical string, line int, ok bool) {
	for {
		nat, ok := lr.natural()
		if !ok {
			return "", 0, false
		}
		nat = strings.TrimLeft(nat, " \t\f")
		if nat == "" || nat[0] == '#' || nat[0] == '!' {
			continue
		}
		line = lr.line
		var b strings.Builder
		for {
			n := 0 // trailing backslashes
			for n < len(nat) && nat[len(nat)-1-n] == '\\' {
				n++
			}
			if n%2 == 0 {
				b.WriteString(nat)
				return b.String(), line, true
			}
			b.WriteString(nat[:len(nat)-1])
			nat, ok = lr.natural()
			if !ok {
				// Java drops a backslash at the end of the file.
				return b.String(), line, true
			}
			nat = strings.TrimLeft(nat, " \t\f")
		}
	}
}

// splitEntry finds where the key of a logical line ends and its value
// starts: the key ends at the first unescaped "=", ":" or whitespace; then
// whitespace, at most one "=" or ":", and more whitespace are skipped.
func splitEntry(s string) (keyEnd, valueStart int) {
	keyEnd = len(s)
	valueStart = len(s)
	hasSep := false
	escaped := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !escaped && (c == '=' || c == ':') {
			keyEnd, valueStart, hasSep = i, i+1, true
			break
		}
		if !escaped && isPropSpace(c) {
			keyEnd, valueStart = i, i+1
			break
		}
		escaped = c == '\\' && !escaped
	}
	for valueStart < len(s) {
		c := s[valueStart]
		if isPropSpace(c) {
			valueStart++
			continue
		}
		if !hasSep && (c == '=' || c == ':') {
			hasSep = true
			valueStart++
			continue
		}
		break
	}
	return keyEnd, valueStart
}

// unescape resolves .properties escapes.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			break // a lone trailing backslash is dropped
		}
		switch c = s[i]; c {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf(`malformed \uxxxx escape %s`, quote(s[i-1:]))
			}
			var r rune
			for _, h := range []byte(s[i+1 : i+5]) {
				d, ok := hexDigit(h)
				if !ok {
					return "", fmt.Errorf(`malformed \uxxxx escape %s`, quote(s[i-1:i+5]))
				}
				r = r<<4 | rune(d)
			}
			i += 4
			// Java strings are UTF-16: join a surrogate pair written as two
			// escapes.
			if r >= 0xD800 && r < 0xDC00 && i+7 <= len(s) && strings.HasPrefix(s[i+1:], `\u`) {
				var lo rune
				okLo := true
				for _, h := range []byte(s[i+3 : i+7]) {
					d, ok := hexDigit(h)
					if !ok {
						okLo = false
						break
					}
					lo = lo<<4 | rune(d)
				}
				if okLo && lo >= 0xDC00 && lo < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					i += 6
				}
			}
			b.WriteRune(r)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parsePropertiesFile loads an mm2.properties file with MM2's key names and
// precedence (spec §5.1-5.3). What is wrong in it is recorded for Validate,
// so that every problem is reported at once.
func parsePropertiesFile(data []byte) (*File, error) {
	f := &File{Clusters: make(map[string]*Cluster), origin: make(map[string]string), secrets: &secretSet{}}
	props, err := parseProperties(data)
	if err != nil {
		for _, e := range flattenErrors(err) {
			le := e.(*lineError)
			path := le.key
			if path == "" {
				path = fmt.Sprintf("line %d", le.line)
			}
			f.problem(path, "%v (line %d)", le.err, le.line)
		}
	}
	kv := make(map[string]string, len(props))
	lines := make(map[string]int, len(props))
	var order []string // keys in the order they first appear
	for _, p := range props {
		if len(p.key) > maxKeyLen {
			f.problem(p.key[:64]+"...", "a key of %d bytes (line %d): keys are at most %d bytes", len(p.key), p.line, maxKeyLen)
			continue
		}
		if len(p.value) > maxValueLen {
			f.problem(p.key, "a value of %d bytes (line %d): values are at most %d bytes", len(p.value), p.line, maxValueLen)
			p.value = ""
		}
		if _, what, bad := badRune(p.key, false); bad {
			f.problem(p.key, "the key holds %s (line %d): remove it", what, p.line)
			continue
		}
		if _, what, bad := badRune(p.value, true); bad {
			f.problem(p.key, "the value holds %s (line %d): remove it", what, p.line)
		}
		if prev, dup := lines[p.key]; dup {
			f.warnf("%s: set on line %d and again on line %d; the last value wins", p.key, prev, p.line)
		} else {
			order = append(order, p.key)
		}
		kv[p.key] = p.value
		lines[p.key] = p.line
	}
	f.resolvePropertyProviders(kv, order)

	clustersValue, ok := kv["clusters"]
	if !ok {
		f.problem("clusters", "required: list the cluster aliases, e.g. clusters = A, B")
	}
	aliases := splitList(clustersValue)
	// Longest alias first, so "us.west.x" belongs to "us.west", not "us".
	byLength := append([]string(nil), aliases...)
	sort.SliceStable(byLength, func(i, j int) bool { return len(byLength[i]) > len(byLength[j]) })

	clusterKV := make(map[string]map[string]string) // alias -> key without alias -> value
	for _, a := range aliases {
		if _, dup := clusterKV[a]; dup {
			f.problem("clusters", "cluster %q is listed twice", a)
		}
		clusterKV[a] = make(map[string]string)
	}
	type flowKV struct {
		source, target string
		first          string            // the flow's first key in the file, for messages
		kv             map[string]string // key without "<s>-><t>." -> value
	}
	flows := make(map[string]*flowKV)
	topKV := make(map[string]string)
	for _, key := range order {
		value := kv[key]
		if key == "clusters" {
			continue
		}
		if source, rest, isFlow := strings.Cut(key, "->"); isFlow {
			target, sub, ok := cutAlias(rest, byLength)
			if !ok {
				f.problem(key, "not a flow key: a flow key is <source>-><target>.<key>, with a target listed in clusters")
				continue
			}
			name := source + "->" + target
			fk := flows[name]
			if fk == nil {
				fk = &flowKV{source: source, target: target, first: key, kv: make(map[string]string)}
				flows[name] = fk
			}
			fk.kv[sub] = value
			continue
		}
		if alias, sub, ok := cutAlias(key, byLength); ok && clusterKV[alias] != nil {
			clusterKV[alias][sub] = value
			continue
		}
		topKV[key] = value
	}

	var topSecurity []string // top-level ssl.* and sasl.* keys, sorted
	for _, k := range sortedKeys(topKV) {
		if strings.HasPrefix(k, "ssl.") || strings.HasPrefix(k, "sasl.") {
			topSecurity = append(topSecurity, k)
		}
	}
	for _, a := range aliases {
		if f.Clusters[a] == nil {
			f.Clusters[a] = f.propertiesCluster(a, clusterKV[a], topKV, topSecurity)
		}
	}

	f.Settings = make(map[string]string)
	for _, key := range sortedKeys(topKV) {
		if isClusterKey(key) {
			continue // a fallback for every cluster, used by propertiesCluster
		}
		f.addPropertySetting(f.Settings, f.origin, key, key, topKV[key], false, topKV)
	}
	if len(f.Settings) == 0 {
		f.Settings = nil
	}

	for _, name := range sortedKeys(flows) {
		fk := flows[name]
		fl := &Flow{Source: fk.source, Target: fk.target, path: name, origin: map[string]string{
			"source": fk.first,
			"target": fk.first,
		}}
		settings := make(map[string]string)
		for _, sub := range sortedKeys(fk.kv) {
			key, value := name+"."+sub, fk.kv[sub]
			switch sub {
			case "enabled":
				fl.origin["enabled"] = key
				b, ok := parseBool(value)
				if !ok {
					f.problem(key, "expected true or false, got %q", value)
				}
				fl.Enabled = b
			case "topics", "topics.exclude", "groups", "groups.exclude":
				setFlowList(fl, sub, key, value)
			case "topics.blacklist", "groups.blacklist":
				newSub := renamedKeys[sub]
				if _, both := fk.kv[newSub]; both {
					f.warnf("%s: ignored: %s.%s is set too and wins (%s is its old name)", key, name, newSub, sub)
					continue
				}
				f.warnf("%s: old name of %s.%s (removed in Kafka 4.0); read as %s", key, name, newSub, newSub)
				setFlowList(fl, newSub, key, value)
			default:
				if isClusterKey(sub) {
					f.warnf("%s: ignored: connection settings have no effect per flow, in MM2 too; set %s.%s or %s.%s",
						key, fk.source, sub, fk.target, sub)
					continue
				}
				f.addPropertySetting(settings, fl.origin, key, sub, value, true, fk.kv)
			}
		}
		if len(settings) > 0 {
			fl.Settings = settings
		}
		f.Flows = append(f.Flows, fl)
	}
	return f, nil
}

// cutAlias splits key into "alias.rest", trying aliases (longest first),
// then the first ".". ok is false if there is no "." or a part is empty.
func cutAlias(key string, byLength []string) (alias, rest string, ok bool) {
	for _, a := range byLength {
		if r, found := strings.CutPrefix(key, a+"."); found && r != "" {
			return a, r, true
		}
	}
	alias, rest, found := strings.Cut(key, ".")
	return alias, rest, found && alias != "" && rest != ""
}

// setFlowList sets a list field of a flow from the property key.
func setFlowList(fl *Flow, sub, key, value string) {
	list := splitList(value)
	if list == nil {
		list = []string{} // written but empty: matches nothing
	}
	fl.origin[listFields[sub]] = key
	switch sub {
	case "topics":
		fl.Topics = list
	case "topics.exclude":
		fl.TopicsExclude = list
	case "groups":
		fl.Groups = list
	case "groups.exclude":
		fl.GroupsExclude = list
	}
}

// addPropertySetting sorts one settings key of mm2.properties: keys that do
// not matter for mm2go become warnings, keys whose value is what mm2go
// does anyway (a default class) are dropped, 3.x aliases are renamed, and
// every other key is kept for Validate, which reports the ones mm2go
// refuses or does not know. key is the key as written, sub the key without
// the flow prefix; all holds the other keys at the same level.
func (f *File) addPropertySetting(dst, origin map[string]string, key, sub, value string, flowLevel bool, all map[string]string) {
	class, detail := classify(sub, value)
	switch class {
	case classIgnored:
		f.warnf("%s: ignored: %s", key, detail)
		return
	case classHonoured:
		return
	case classProvider:
		if !flowLevel {
			return // read by resolveProviders
		}
	case classRenamed:
		if _, both := all[detail]; both {
			f.warnf("%s: ignored: %s is set too and wins (%s is its old name)", key, detail, sub)
			return
		}
		f.warnf("%s: old name of %s (removed in Kafka 4.0); read as %s", key, detail, detail)
		sub = detail
	case classClient:
		f.warnClientSetting(key, sub)
	}
	dst[sub] = value
	origin["settings."+sub] = key
}

// propertiesCluster builds cluster alias from its own keys ("<alias>.<k>",
// without the prefix) and the top-level client keys that are a fallback for
// every cluster (bootstrap.servers, security.protocol, ssl.*, sasl.*).
func (f *File) propertiesCluster(alias string, own, top map[string]string, topSecurity []string) *Cluster {
	c := &Cluster{Alias: alias, path: alias, origin: make(map[string]string)}
	// get returns the value of a client key and the key it came from.
	get := func(k string) (value, at string, ok bool) {
		if v, ok := own[k]; ok {
			return v, alias + "." + k, true
		}
		if v, ok := top[k]; ok {
			return v, k, true
		}
		return "", alias + "." + k, false
	}
	consumed := map[string]bool{"bootstrap.servers": true, "security.protocol": true}

	v, at, _ := get("bootstrap.servers")
	c.BootstrapServers = splitList(v)
	c.origin["bootstrap_servers"] = at

	c.SecurityProtocol = "PLAINTEXT" // Java's default; never inferred from ssl.* keys
	if v, at, ok := get("security.protocol"); ok {
		c.SecurityProtocol = strings.TrimSpace(v)
		c.origin["security_protocol"] = at
	} else {
		c.origin["security_protocol"] = at
	}
	proto := strings.ToUpper(c.SecurityProtocol)
	usesTLS := proto == "SSL" || proto == "SASL_SSL"
	usesSASL := proto == "SASL_PLAINTEXT" || proto == "SASL_SSL"

	if usesTLS {
		for _, k := range consumedTLSKeys {
			consumed[k] = true
		}
		c.TLS = f.propertiesTLS(c, get)
	}
	if usesSASL {
		for _, k := range consumedSASLKeys {
			consumed[k] = true
		}
		c.SASL = f.propertiesSASL(c, get)
	}

	props := make(map[string]string)
	for _, k := range sortedKeys(own) {
		switch {
		case consumed[k]:
		case strings.HasPrefix(k, "ssl.") && !usesTLS, strings.HasPrefix(k, "sasl.") && !usesSASL:
			f.warnf("%s.%s: ignored: %s is %s", alias, k, c.origin["security_protocol"], c.SecurityProtocol)
		default:
			props[k] = own[k]
			c.origin["properties."+k] = alias + "." + k
		}
	}
	for _, k := range topSecurity {
		if _, ok := own[k]; ok || consumed[k] {
			continue
		}
		if strings.HasPrefix(k, "ssl.") && usesTLS || strings.HasPrefix(k, "sasl.") && usesSASL {
			props[k] = top[k]
			c.origin["properties."+k] = k
		}
	}
	if len(props) > 0 {
		c.Properties = props
	}
	f.warnUnmappedProps(c)
	return c
}

// resolvePropertyProviders resolves the config provider references in kv,
// the file's entries, in place: every value but those of clusters (MM2
// reads the cluster list before it resolves anything) and of the provider
// definitions themselves.
func (f *File) resolvePropertyProviders(kv map[string]string, order []string) {
	top := make(map[string]string)
	for k, v := range kv {
		if k == "config.providers" || strings.HasPrefix(k, "config.providers.") {
			top[k] = v
		}
	}
	defs, probs := propertyProviders(top)
	f.problems = append(f.problems, probs...)
	ps, probs := newProviders(defs)
	f.problems = append(f.problems, probs...)
	for _, k := range order {
		if k == "config.providers" || strings.HasPrefix(k, "config.providers.") {
			continue
		}
		v := kv[k]
		if k == "clusters" {
			if providerRef.MatchString(v) {
				f.problem(k, "config provider references are not resolved in clusters (MM2 reads the list before it resolves anything): list the aliases")
			}
			continue
		}
		out, pieces, err := ps.resolve(v)
		for _, piece := range pieces {
			f.secrets.addValue(piece)
		}
		if err != nil {
			f.problem(k, "%v", err)
			continue
		}
		if len(pieces) == 0 {
			continue
		}
		f.secrets.add(k, out)
		if _, what, bad := badRune(out, true); bad {
			f.problem(k, "the value a config provider gave holds %s", what)
		}
		kv[k] = out
	}
}

// warnClientSetting warns about a client settings key (at path) whose Java
// property does not matter for mm2go. Validate reports the refused ones.
func (f *File) warnClientSetting(path, key string) {
	name, role := flowClientRole(key)
	if _, ignore := clientPropProblem(name, role); ignore != "" {
		f.warnf("%s: ignored: %s", path, ignore)
	}
}

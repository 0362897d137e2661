package flows

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/mm2go/mm2go/connectors"
)

// Validate checks the file and reports every problem at once: the result
// is nil or an errors.Join of *FieldError, each naming the path of the
// problem in the file's own terms.
//
// It checks that there are clusters, each with bootstrap servers, a known
// security protocol, and consistent TLS and SASL settings; that flows name
// two different known clusters, once each; that topic and group patterns
// compile as Go regexps; that settings are MM2 keys mm2go knows, with
// values of the right type (numbers, bools, enums, a supported replication
// policy); and that the Java client properties mm2go maps have valid
// values. It reads no files: see [Cluster.ClientOpts].
func (f *File) Validate() error {
	v := &validator{}
	for _, p := range f.problems {
		v.addErr(p)
	}
	if len(f.Clusters) == 0 {
		v.add("clusters", "no clusters defined; define at least a source and a target cluster")
	}
	for _, alias := range sortedKeys(f.Clusters) {
		v.cluster(alias, f.Clusters[alias])
	}
	for _, key := range sortedKeys(f.Settings) {
		v.setting(f.settingPath(key), key, f.Settings[key], "")
	}
	seen := make(map[string]string) // flow name -> path of its first definition
	known := sortedKeys(f.Clusters)
	for i, fl := range f.Flows {
		v.flow(f, i, fl, known, seen)
	}
	return f.secrets.cleanError(errors.Join(v.dropConsequences(f).result()...))
}

// Check is Validate plus what needs the files the flow file names: it
// reads every cluster's TLS files (see [Cluster.ClientOpts]) and checks
// the worker settings [Expanded.Plan] applies. It reports every problem at
// once; a file that passes Check expands and plans without error.
func (f *File) Check() error {
	errs := flattenErrors(f.Validate())
	seen := make(map[string]bool, len(errs))
	for _, e := range errs {
		seen[e.Error()] = true
	}
	for _, alias := range sortedKeys(f.Clusters) {
		c := f.Clusters[alias]
		if c == nil {
			continue
		}
		if _, err := c.TLSConfig(); err != nil {
			for _, e := range flattenErrors(f.secrets.cleanError(err)) {
				if !seen[e.Error()] {
					seen[e.Error()] = true
					errs = append(errs, e)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// dropConsequences removes the validation errors at a path where the loader
// already found a problem: a YAML value of the wrong type was not decoded,
// and "required" there would only repeat it.
func (v *validator) dropConsequences(f *File) *validator {
	loaded := make(map[string]bool, len(f.problems))
	for _, p := range f.problems {
		loaded[p.Path] = true
	}
	out := &validator{more: v.more}
	for _, e := range v.errs {
		var fe *FieldError
		if errors.As(e, &fe) && loaded[fe.Path] && !f.isProblem(fe) {
			continue
		}
		out.addErr(e)
	}
	return out
}

// isProblem reports whether fe is one of the loader's problems.
func (f *File) isProblem(fe *FieldError) bool {
	for _, p := range f.problems {
		if p == fe {
			return true
		}
	}
	return false
}

// maxProblems is how many problems Validate lists; the rest are counted.
const maxProblems = 1000

// validator collects FieldErrors.
type validator struct {
	errs []error
	seen map[string]bool // messages of errs
	more int             // problems past maxProblems
}

// full reports whether the validator lists no more problems.
func (v *validator) full() bool { return len(v.errs) >= maxProblems }

func (v *validator) add(path, format string, args ...any) {
	v.addErr(&FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// addErr adds err unless the same error is there already: a top-level
// mm2.properties key that every cluster falls back to is reported once.
func (v *validator) addErr(err error) {
	msg := err.Error()
	if v.seen[msg] {
		return
	}
	if v.seen == nil {
		v.seen = make(map[string]bool)
	}
	v.seen[msg] = true
	if v.full() {
		v.more++
		return
	}
	v.errs = append(v.errs, err)
}

// result returns the problems as one error: the first maxProblems, then a
// count of the rest.
func (v *validator) result() []error {
	if v.more == 0 {
		return v.errs
	}
	return append(v.errs[:len(v.errs):len(v.errs)], fmt.Errorf("and %d more problems", v.more))
}

// validAlias matches the characters Kafka allows in topic names: an alias
// becomes part of topic names ("<alias>.<topic>",
// "mm2-offsets.<alias>.internal").
var validAlias = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// Security protocols.
const (
	protoPlaintext     = "PLAINTEXT"
	protoSSL           = "SSL"
	protoSASLPlaintext = "SASL_PLAINTEXT"
	protoSASLSSL       = "SASL_SSL"
)

// protocol returns the effective security protocol of c, upper case: the
// one written, or the one TLS and SASL imply.
func (c *Cluster) protocol() string {
	if p := strings.TrimSpace(c.SecurityProtocol); p != "" {
		return strings.ToUpper(p)
	}
	switch {
	case c.TLS != nil && c.SASL != nil:
		return protoSASLSSL
	case c.TLS != nil:
		return protoSSL
	case c.SASL != nil:
		return protoSASLPlaintext
	}
	return protoPlaintext
}

func usesTLS(proto string) bool  { return proto == protoSSL || proto == protoSASLSSL }
func usesSASL(proto string) bool { return proto == protoSASLPlaintext || proto == protoSASLSSL }

func (v *validator) cluster(alias string, c *Cluster) {
	if c == nil {
		v.add("clusters."+alias, "empty cluster; give at least bootstrap_servers")
		return
	}
	if !validAlias.MatchString(alias) {
		v.add(c.base(), "cluster alias %q may only hold letters, digits, '.', '_' and '-': MM2 puts it in topic names", alias)
	}
	if c.Alias != alias {
		v.add(c.base(), "Alias is %q but the cluster is listed as %q", c.Alias, alias)
	}

	servers := 0
	for i, s := range c.BootstrapServers {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		servers++
		if err := checkHostPort(s); err != nil {
			v.add(listItemPath(c.origin, c.base(), "bootstrap_servers", i), "%v", err)
		}
	}
	if servers == 0 {
		v.add(c.at("bootstrap_servers"), "required: list at least one host:port")
	}

	proto := c.protocol()
	switch proto {
	case protoPlaintext, protoSSL, protoSASLPlaintext, protoSASLSSL:
	default:
		v.add(c.at("security_protocol"), "unknown security protocol %q; use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", c.SecurityProtocol)
		proto = ""
	}
	if c.TLS != nil {
		if proto != "" && !usesTLS(proto) {
			v.add(c.at("tls"), "set, but security protocol %s does not use TLS; use SSL or SASL_SSL", proto)
		}
		t := c.TLS
		if t.KeyFile != "" && t.CertFile == "" {
			v.add(c.at("tls.key_file"), "set without a client certificate (tls.cert_file)")
		}
		if t.CertFile != "" && t.KeyFile == "" {
			v.add(c.at("tls.cert_file"), "set without a private key (tls.key_file)")
		}
		v.tlsStores(c)
	}
	switch {
	case c.SASL == nil && usesSASL(proto):
		v.add(c.at("sasl"), "required by security protocol %s: give mechanism, username and password", proto)
	case c.SASL != nil && proto != "" && !usesSASL(proto):
		v.add(c.at("sasl"), "set, but security protocol %s does not use SASL; use SASL_PLAINTEXT or SASL_SSL", proto)
	case c.SASL != nil:
		v.sasl(c)
	}

	for _, key := range sortedKeys(c.Properties) {
		if field, ok := structuredKeys[key]; ok {
			v.add(c.at("properties."+key), "not a free-form property: use %s", field)
		}
	}
	for _, e := range checkClientProps(c) {
		v.addErr(e)
	}
}

// checkHostPort checks a bootstrap server address.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("bad address %q: want host:port", s)
	}
	if host == "" {
		return fmt.Errorf("bad address %q: no host", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("bad address %q: port must be a number from 1 to 65535", s)
	}
	return nil
}

func (v *validator) flow(f *File, i int, fl *Flow, known []string, seen map[string]string) {
	base := fmt.Sprintf("flows[%d]", i)
	if fl == nil {
		v.add(base, "empty flow; give at least source and target")
		return
	}
	if fl.path != "" {
		base = fl.path
	}
	at := func(field string) string { return where(fl.origin, base, field) }

	for _, end := range []struct{ field, alias string }{{"source", fl.Source}, {"target", fl.Target}} {
		switch {
		case end.alias == "":
			v.add(at(end.field), "required: name a cluster (known: %s)", listSome(known))
		case f.Clusters[end.alias] == nil:
			hint := ""
			if s := suggest(end.alias, known); s != "" {
				hint = fmt.Sprintf("did you mean %q? ", s)
			}
			v.add(at(end.field), "unknown cluster %q (%sknown: %s)", end.alias, hint, listSome(known))
		}
	}
	if fl.Source != "" && fl.Source == fl.Target {
		v.add(at("target"), "same as the source %q; a flow copies from one cluster to another", fl.Source)
	}
	if fl.Source != "" && fl.Target != "" {
		name := fl.Name()
		if first, dup := seen[name]; dup {
			v.add(base, "duplicate flow %s; first defined at %s", name, first)
		} else {
			seen[name] = base
		}
	}

	for _, l := range []struct {
		field string
		items []string
	}{
		{"topics", fl.Topics},
		{"topics_exclude", fl.TopicsExclude},
		{"groups", fl.Groups},
		{"groups_exclude", fl.GroupsExclude},
	} {
		for j, item := range l.items {
			path := listItemPath(fl.origin, base, l.field, j)
			if strings.Contains(item, ",") {
				v.add(path, "pattern %s has a comma; MM2 splits lists on commas, so give each pattern as its own item", quote(item))
				continue
			}
			if err := checkRegex(strings.TrimSpace(item)); err != nil {
				v.add(path, "%v", err)
			}
		}
	}

	for _, key := range sortedKeys(fl.Settings) {
		v.setting(at("settings."+key), key, fl.Settings[key], base)
	}

	src, tgt := f.Clusters[fl.Source], f.Clusters[fl.Target]
	if src == nil || tgt == nil || fl.Source == fl.Target {
		return
	}
	// The values each client of the flow gets, after precedence: some
	// only fail together (compression.type and its level), and a cluster's
	// value may meet a flow's.
	sets := flowClients(src, tgt, f.topLayer(), fl.layer(at))
	for _, name := range sortedKeys(sets) {
		_, role := sideCluster(name, fl.Source, fl.Target)
		_, errs := roleOpts(sets[name], role)
		for _, e := range errs {
			v.addErr(e)
		}
	}
	if reset, ok := sets[ClientSourceConsumer]["auto.offset.reset"]; ok && strings.EqualFold(strings.TrimSpace(reset.value), "none") {
		v.add(reset.path, "none is refused for the replication consumer of %s: its partitions without stored offsets would fail; use earliest or latest", fl.Name())
	}
	v.exactlyOnce(f, fl, tgt, at, sets)
}

// exactlyOnce checks the keys of exactly-once mode together:
// exactly.once.support=required needs exactly.once.source.support=enabled
// for the flow's target (KIP-618 fails such a connector too); in
// exactly-once mode the replication consumer reads read_committed (an
// explicit read_uncommitted would let aborted source transactions reach
// the target) and the record producer is idempotent.
func (v *validator) exactlyOnce(f *File, fl *Flow, tgt *Cluster, at func(string) string, sets map[string]propSet) {
	worker := herderProps(tgt.Properties, f.Settings, fl.Settings)
	eos := strings.EqualFold(strings.TrimSpace(worker[KeyExactlyOnceSourceSupport]), "enabled")
	if !eos {
		if _, ok := worker["group.id"]; ok {
			f.warnf("group.id is set for flow %s, which does not copy exactly once: it only names the transactional ids of exactly-once mode "+
				"(<group.id>-<connector>-<task>), as in Connect; mm2go's workers form a group named after the flow file's clusters (set mm2go.group.id to name it)", fl.Name())
		}
		path, value := at("settings."+KeyExactlyOnceSupport), fl.Settings[KeyExactlyOnceSupport]
		if _, ok := fl.Settings[KeyExactlyOnceSupport]; !ok {
			path, value = f.settingPath(KeyExactlyOnceSupport), f.Settings[KeyExactlyOnceSupport]
		}
		if strings.EqualFold(strings.TrimSpace(value), "required") {
			v.add(path, "required, but flow %s does not copy exactly once: set %s.%s=enabled (exactly_once: true on the flow in YAML), or set this key to requested",
				fl.Name(), fl.Target, KeyExactlyOnceSourceSupport)
		}
		return
	}
	if iso, ok := sets[ClientSourceConsumer]["isolation.level"]; ok && strings.EqualFold(strings.TrimSpace(iso.value), "read_uncommitted") {
		v.add(iso.path, "read_uncommitted is refused for the replication consumer of %s, which copies exactly once: "+
			"records of aborted source transactions would reach the target; remove the key (exactly-once mode reads read_committed)", fl.Name())
	}
	if idem, ok := sets[ClientWorkerProducer]["enable.idempotence"]; ok && strings.EqualFold(strings.TrimSpace(idem.value), "false") {
		v.add(idem.path, "false is refused for the record producer of %s, which copies exactly once: transactions need an idempotent producer; remove the key", fl.Name())
	}
}

// topLayer returns the top-level settings as a layer of client settings.
func (f *File) topLayer() settingsLayer {
	return settingsLayer{settings: f.Settings, path: f.settingPath}
}

// layer returns the flow's settings as a layer of client settings; at
// gives the path of a field of the flow.
func (fl *Flow) layer(at func(string) string) settingsLayer {
	return settingsLayer{settings: fl.Settings, path: func(key string) string { return at("settings." + key) }}
}

// listSome joins up to ten names for a message.
func listSome(names []string) string {
	const show = 10
	if len(names) <= show {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:show], ", "), len(names)-show)
}

// listItemPath returns the path of item i of a list field: the property key
// for mm2.properties (origin), else "base.field[i]".
func listItemPath(origin map[string]string, base, field string, i int) string {
	if p, ok := origin[field]; ok {
		return p
	}
	return fmt.Sprintf("%s.%s[%d]", base, field, i)
}

// setting checks one settings key; flowBase is the flow's path, or "" for
// the top level.
func (v *validator) setting(path, key, value, flowBase string) {
	class, detail := classify(key, value)
	switch class {
	case classKnown:
		info := knownKeys[key]
		if info.flowOnly && flowBase == "" {
			v.add(path, "only valid per flow")
			return
		}
		if info.topOnly && flowBase != "" {
			v.add(path, "a worker key: set it once, at the top level")
			return
		}
		if field, ok := listFields[key]; ok && flowBase != "" {
			v.add(path, "set the flow's %s instead", field)
			return
		}
		if err := checkValue(info, value); err != nil {
			v.add(path, "%v", err)
		}
	case classClient:
		name, role := flowClientRole(key)
		if refuse, _ := clientPropProblem(name, role); refuse != "" {
			v.add(path, "%s", refuse)
		}
	case classIgnored, classHonoured:
	case classRefused:
		v.add(path, "%s", detail)
	case classRenamed:
		v.add(path, "old name of %s (removed in Kafka 4.0); use %s", detail, detail)
	case classCluster:
		v.add(path, "a connection setting: set it on the cluster (<alias>.%s in mm2.properties; bootstrap_servers, security_protocol, tls or sasl in YAML)", key)
	case classBareClient:
		v.add(path, "a Java client property: set it on a cluster (<alias>.%s in mm2.properties, properties in YAML), "+
			"or for one role of the flows' clients (consumer.%s, producer.%s or admin.%s)", key, key, key, key)
	case classProvider:
		v.add(path, "config providers are set once, at the top level (config.providers in mm2.properties, config_providers in YAML)")
	default:
		var hint string
		if !v.full() { // past the cap a problem is only counted
			hint = didYouMean(suggest(key, settingNames()))
		}
		if alias, ok := strings.CutSuffix(key, ".bootstrap.servers"); ok && flowBase == "" {
			hint = fmt.Sprintf(" (is cluster %q missing from clusters?)", alias)
		}
		v.add(path, "unknown MM2 key%s", hint)
	}
}

// checkValue checks a settings value against its key's type.
func checkValue(info keyInfo, value string) error {
	v := strings.TrimSpace(value)
	switch info.kind {
	case kindInt, kindLong:
		bits := 32
		if info.kind == kindLong {
			bits = 64
		}
		n, err := strconv.ParseInt(v, 10, bits)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return fmt.Errorf("%q is out of range for a %d-bit integer", value, bits)
			}
			return fmt.Errorf("expected an integer, got %q", value)
		}
		if info.hasMin && n < info.min {
			return fmt.Errorf("%d is too small; the minimum is %d", n, info.min)
		}
		if info.max != 0 && n > info.max {
			return fmt.Errorf("%d is too large; the maximum is %d", n, info.max)
		}
		if info.notZero && n == 0 {
			return fmt.Errorf("0 is not a replication factor; use -1 for the broker default")
		}
	case kindListeners:
		return checkListeners(v)
	case kindBool:
		if _, ok := parseBool(v); !ok {
			return fmt.Errorf("expected true or false, got %q", value)
		}
	case kindEnum:
		for _, ok := range info.values {
			if strings.EqualFold(v, ok) {
				if why, refused := info.refuse[strings.ToLower(v)]; refused {
					return errors.New(why)
				}
				return nil
			}
		}
		return fmt.Errorf("expected one of %s, got %q", strings.Join(info.values, ", "), value)
	case kindName:
		switch {
		case v == "":
			return errors.New("empty connector name")
		case v == connectors.ClassMirrorCheckpoint || v == connectors.ClassMirrorHeartbeat:
			return fmt.Errorf("%s is the name of the flow's %s; the source connector needs its own", v, v)
		case len(v) > 249:
			return fmt.Errorf("a connector name of %d bytes is too long (at most 249)", len(v))
		}
		for _, r := range v {
			if unicode.IsControl(r) {
				return errors.New("a connector name cannot hold control characters")
			}
		}
	case kindPolicy:
		if _, ok := policyClasses[v]; !ok {
			return fmt.Errorf("replication policy %q is not supported: use DefaultReplicationPolicy or "+
				"IdentityReplicationPolicy (custom Java policies cannot run in mm2go)", value)
		}
	case kindRegexList:
		var errs []error
		for _, item := range splitList(v) {
			if err := checkRegex(item); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	return nil
}

// checkRegex checks that pattern compiles as a Go regexp matching whole
// names, as MM2's Java filters match them.
func checkRegex(pattern string) error {
	if len(pattern) > maxPatternLen {
		return fmt.Errorf("a pattern of %d bytes is too long (at most %d): list several patterns instead", len(pattern), maxPatternLen)
	}
	// Anchoring what compiles cannot make it fail, so one compile tells.
	_, err := regexp.Compile(pattern)
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf("bad regex %s: %v", quote(pattern), err)
	if javaOnlyRegex.MatchString(pattern) {
		msg += "; Go's RE2 regexps have no look-around, backreferences, atomic groups or possessive quantifiers"
	}
	return errors.New(msg)
}

// maxPatternLen bounds one topic or group pattern: a Kafka name is at most
// 249 bytes, and compiling a pattern costs time in its length.
const maxPatternLen = 4 << 10

// javaOnlyRegex spots Java regex syntax RE2 lacks: look-around,
// backreferences, atomic groups and possessive quantifiers.
var javaOnlyRegex = regexp.MustCompile(`\(\?<?[=!]|\(\?>|\\[1-9]|\\k<|[*+?}]\+`)

// splitList splits a comma-separated MM2 list, trimming whitespace around
// items and dropping empty ones. It returns nil for no items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parseBool parses a Java config bool: true or false in any case, with
// surrounding whitespace.
func parseBool(s string) (value, ok bool) {
	switch s = strings.TrimSpace(s); {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

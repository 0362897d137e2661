package flows

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	koanfyaml "github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/v2"
)

// The YAML flow file, as decoded. Fields absent from these structs are
// errors (ErrorUnused).
type yamlFile struct {
	Clusters map[string]*yamlCluster `koanf:"clusters"`
	Settings map[string]settingValue `koanf:"settings"`
	Flows    []*yamlFlow             `koanf:"flows"`
	// ExactlyOnce is exactly.once.source.support=enabled (true) or
	// disabled (false) for every flow.
	ExactlyOnce *bool `koanf:"exactly_once"`
	// ConfigProviders is read before the rest (parseYAML), since its
	// providers resolve the rest's values.
	ConfigProviders map[string]*yamlProvider `koanf:"config_providers"`
}

// yamlProvider is a config provider: config_providers.<name>.
type yamlProvider struct {
	Class  string            `koanf:"class"`
	Params map[string]string `koanf:"params"`
}

type yamlCluster struct {
	BootstrapServers []string          `koanf:"bootstrap_servers"`
	SecurityProtocol string            `koanf:"security_protocol"`
	TLS              *TLS              `koanf:"tls"`
	SASL             *SASL             `koanf:"sasl"`
	Properties       map[string]string `koanf:"properties"`
}

type yamlFlow struct {
	Source        string                  `koanf:"source"`
	Target        string                  `koanf:"target"`
	Enabled       *bool                   `koanf:"enabled"`
	Topics        []string                `koanf:"topics"`
	TopicsExclude []string                `koanf:"topics_exclude"`
	Groups        []string                `koanf:"groups"`
	GroupsExclude []string                `koanf:"groups_exclude"`
	Settings      map[string]settingValue `koanf:"settings"`
	// ExactlyOnce is exactly.once.source.support for this flow.
	ExactlyOnce *bool `koanf:"exactly_once"`
}

// settingValue is a settings value: a scalar, or a list of scalars, which
// is joined with "," as MM2 lists are.
type settingValue string

// UnmarshalMapstructure implements mapstructure.Unmarshaler.
func (s *settingValue) UnmarshalMapstructure(v any) error {
	if str, ok := scalarString(v); ok {
		*s = settingValue(str)
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		return fmt.Errorf("expected a value or a list of values, got %s", describeValue(v))
	}
	items := make([]string, 0, len(list))
	for _, e := range list {
		str, ok := scalarString(e)
		if !ok {
			return fmt.Errorf("expected a list of values, got %s in it", describeValue(e))
		}
		items = append(items, str)
	}
	*s = settingValue(strings.Join(items, ","))
	return nil
}

// koanfDelim is the koanf key delimiter. It is not "." so that dotted MM2
// keys under settings and properties stay single keys.
const koanfDelim = "::"

// parseYAML loads a YAML flow file strictly: every key that is not part of
// the schema is a problem with its path, which Validate reports with the
// others. Only YAML that does not parse is an error here.
func parseYAML(data []byte) (*File, error) {
	m, err := yamlParser{}.Unmarshal(data)
	if err != nil {
		return nil, fmt.Errorf("parse yaml: %s", printable(err.Error()))
	}
	f := &File{secrets: &secretSet{}}
	defs := f.yamlProviders(m["config_providers"])
	delete(m, "config_providers")
	ps, probs := newProviders(defs)
	f.problems = append(f.problems, probs...)
	for _, key := range sortedKeys(m) {
		m[key] = f.checkYAML(m[key], key, ps)
	}
	k := koanf.New(koanfDelim)
	if err := k.Load(mapProvider(m), nil); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	var y yamlFile
	if err := decodeStrict(k, &y); err != nil {
		f.problems = append(f.problems, decodeErrors(err, reflect.TypeOf(y))...)
	}
	y.fill(f)
	return f, nil
}

// decodeStrict decodes k into out: keys match field tags exactly, and keys
// without a field are errors. mapstructure leaves out a map entry or list
// item in which it found an error, so out is filled by a second, lenient
// pass: an unknown key in a cluster must not make the whole cluster
// unknown.
func decodeStrict(k *koanf.Koanf, out any) error {
	decode := func(strict bool, out any) error {
		return k.UnmarshalWithConf("", out, koanf.UnmarshalConf{
			Tag: "koanf",
			DecoderConfig: &mapstructure.DecoderConfig{
				DecodeHook:  yamlScalarHook,
				ErrorUnused: strict,
				// mapstructure's default also accepts any case.
				MatchName: func(mapKey, fieldName string) bool { return mapKey == fieldName },
				TagName:   "koanf",
				Result:    out,
			},
		})
	}
	err := decode(true, reflect.New(reflect.TypeOf(out).Elem()).Interface())
	if err != nil {
		_ = decode(false, out) // its errors are among err's
	} else {
		err = decode(true, out)
	}
	return err
}

// mapProvider is a koanf provider of an already parsed map.
type mapProvider map[string]any

func (m mapProvider) ReadBytes() ([]byte, error)    { return nil, errors.New("mapProvider has no bytes") }
func (m mapProvider) Read() (map[string]any, error) { return m, nil }

// yamlProviders reads config_providers.
func (f *File) yamlProviders(raw any) []providerDef {
	if raw == nil {
		return nil
	}
	k := koanf.New(koanfDelim)
	if err := k.Load(mapProvider{"config_providers": raw}, nil); err != nil {
		f.problem("config_providers", "%v", err)
		return nil
	}
	var y struct {
		ConfigProviders map[string]*yamlProvider `koanf:"config_providers"`
	}
	if err := decodeStrict(k, &y); err != nil {
		f.problems = append(f.problems, decodeErrors(err, reflect.TypeOf(yamlFile{}))...)
	}
	var defs []providerDef
	for _, name := range sortedKeys(y.ConfigProviders) {
		yp := y.ConfigProviders[name]
		if yp == nil {
			yp = &yamlProvider{}
		}
		base := "config_providers." + name
		defs = append(defs, providerDef{name: name, class: yp.Class, params: yp.Params, path: func(param string) string {
			if param == "" {
				return base + ".class"
			}
			return base + ".params." + param
		}})
	}
	return defs
}

// checkYAML checks every key and string of a parsed YAML value at path for
// characters that have no place in a flow file, and resolves config
// provider references in strings. It returns the value with references
// resolved.
func (f *File) checkYAML(v any, path string, ps providers) any {
	switch v := v.(type) {
	case map[string]any:
		for _, key := range sortedKeys(v) {
			if len(key) > maxKeyLen {
				f.problem(joinPath(path, key[:64]+"..."), "a key of %d bytes: keys are at most %d bytes", len(key), maxKeyLen)
				delete(v, key)
				continue
			}
			p := joinPath(path, key)
			if _, what, bad := badRune(key, false); bad {
				f.problem(p, "the key holds %s: remove it", what)
			}
			v[key] = f.checkYAML(v[key], p, ps)
		}
		return v
	case []any:
		for i := range v {
			v[i] = f.checkYAML(v[i], fmt.Sprintf("%s[%d]", path, i), ps)
		}
		return v
	case string:
		if len(v) > maxValueLen {
			f.problem(path, "a value of %d bytes: values are at most %d bytes", len(v), maxValueLen)
			return ""
		}
		if _, what, bad := badRune(v, true); bad {
			f.problem(path, "the value holds %s: remove it", what)
			return v
		}
		out, pieces, err := ps.resolve(v)
		for _, piece := range pieces {
			f.secrets.addValue(piece)
		}
		if err != nil {
			f.problem(path, "%v", err)
			return v
		}
		if len(pieces) == 0 {
			return v
		}
		f.secrets.add(path, out)
		if _, what, bad := badRune(out, true); bad {
			f.problem(path, "the value a config provider gave holds %s", what)
		}
		return out
	}
	return v
}

// fill puts the decoded YAML into f.
func (y *yamlFile) fill(f *File) {
	f.Clusters = make(map[string]*Cluster, len(y.Clusters))
	for _, alias := range sortedKeys(y.Clusters) {
		yc := y.Clusters[alias]
		c := &Cluster{Alias: alias, path: "clusters." + alias}
		if yc != nil {
			c.BootstrapServers = yc.BootstrapServers
			c.SecurityProtocol = yc.SecurityProtocol
			if yc.TLS != nil {
				t := *yc.TLS
				c.TLS = &t
			}
			if yc.SASL != nil {
				s := *yc.SASL
				c.SASL = &s
			}
			if len(yc.Properties) > 0 {
				c.Properties = yc.Properties
			}
		}
		f.Clusters[alias] = c
		f.warnUnmappedProps(c)
	}
	f.Settings = f.keepSettings(y.Settings, "settings.")
	if y.ExactlyOnce != nil {
		f.Settings = f.exactlyOnceField(f.Settings, *y.ExactlyOnce, "exactly_once", "settings.")
		if f.origin == nil {
			f.origin = make(map[string]string)
		}
		f.origin["settings."+KeyExactlyOnceSourceSupport] = "exactly_once"
	}
	for i, yf := range y.Flows {
		path := fmt.Sprintf("flows[%d]", i)
		if yf == nil {
			f.problem(path, "empty flow; give at least source and target")
			continue
		}
		fl := &Flow{
			Source:        yf.Source,
			Target:        yf.Target,
			Enabled:       yf.Enabled == nil || *yf.Enabled,
			Topics:        yf.Topics,
			TopicsExclude: yf.TopicsExclude,
			Groups:        yf.Groups,
			GroupsExclude: yf.GroupsExclude,
			Settings:      f.keepSettings(yf.Settings, path+".settings."),
			path:          path,
		}
		if yf.ExactlyOnce != nil {
			fl.Settings = f.exactlyOnceField(fl.Settings, *yf.ExactlyOnce, path+".exactly_once", path+".settings.")
			fl.origin = map[string]string{"settings." + KeyExactlyOnceSourceSupport: path + ".exactly_once"}
		}
		f.Flows = append(f.Flows, fl)
	}
}

// exactlyOnceField adds the YAML field exactly_once (at path) to settings
// as exactly.once.source.support; the key set under settings (at prefix)
// as well is a problem.
func (f *File) exactlyOnceField(settings map[string]string, on bool, path, prefix string) map[string]string {
	if _, dup := settings[KeyExactlyOnceSourceSupport]; dup {
		f.problem(path, "set either exactly_once or %s%s, not both", prefix, KeyExactlyOnceSourceSupport)
		return settings
	}
	if settings == nil {
		settings = make(map[string]string)
	}
	settings[KeyExactlyOnceSourceSupport] = map[bool]string{true: "enabled", false: "disabled"}[on]
	return settings
}

// keepSettings returns the settings Validate should see: keys that do not
// matter for mm2go become warnings, keys whose value is what mm2go does
// anyway are dropped; the others stay, so that Validate reports the ones
// mm2go refuses or does not know.
func (f *File) keepSettings(in map[string]settingValue, prefix string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for _, key := range sortedKeys(in) {
		value := string(in[key])
		switch class, why := classify(key, value); class {
		case classIgnored:
			f.warnf("%s%s: ignored: %s", prefix, key, why)
			continue
		case classHonoured:
			continue
		case classClient:
			f.warnClientSetting(prefix+key, key)
		}
		out[key] = value
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// yamlParser is koanf's YAML parser, plus a pass that turns every map key
// into a string: YAML allows `1: x`, and mapstructure assumes string keys.
type yamlParser struct{}

func (yamlParser) Unmarshal(b []byte) (map[string]any, error) {
	m, err := koanfyaml.Parser().Unmarshal(b)
	if err != nil {
		return nil, err
	}
	for k, v := range m {
		m[k] = stringKeys(v)
	}
	return m, nil
}

func (yamlParser) Marshal(m map[string]any) ([]byte, error) {
	return koanfyaml.Parser().Marshal(m)
}

// stringKeys returns v with the keys of every nested map turned into strings.
func stringKeys(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = stringKeys(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = stringKeys(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = stringKeys(e)
		}
		return v
	default:
		return v
	}
}

// yamlScalarHook makes decoding accept what people write in YAML: numbers
// and bools where a string is expected (settings values, properties),
// a comma-separated string where a list is expected, and "true"/"false"
// strings for bools.
func yamlScalarHook(_, to reflect.Type, data any) (any, error) {
	switch to.Kind() {
	case reflect.String:
		if s, ok := scalarString(data); ok {
			return s, nil
		}
	case reflect.Slice:
		if to.Elem().Kind() != reflect.String {
			break
		}
		if s, ok := data.(string); ok {
			if list := splitList(s); list != nil {
				return list, nil
			}
			return []string{}, nil // written but empty: an empty list, not "inherit"
		}
	case reflect.Bool:
		if s, ok := data.(string); ok {
			if b, ok := parseBool(s); ok {
				return b, nil
			}
		}
	}
	return data, nil
}

// scalarString formats a YAML scalar as a string.
func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case []byte:
		return string(v), true
	case time.Time:
		if v.Equal(v.Truncate(24*time.Hour)) && v.Location() == time.UTC {
			return v.Format(time.DateOnly), true
		}
		return v.Format(time.RFC3339Nano), true
	}
	return "", false
}

// decodeErrors turns mapstructure's errors into FieldErrors with YAML
// paths ("clusters.primary.tls.ca_file", "flows[0].topics[1]"), sorted by
// path.
func decodeErrors(err error, root reflect.Type) []*FieldError {
	var out []*FieldError
	var walk func(err error)
	walk = func(err error) {
		var de *mapstructure.DecodeError
		switch {
		case errors.As(err, &de) && error(de) == err:
			name := de.Name()
			if name == root.String() {
				name = "" // mapstructure names the root by its Go type
			}
			path, t := yamlPath(name, root)
			out = append(out, decodeError(path, t, de.Unwrap())...)
		default:
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					walk(e)
				}
				return
			}
			if inner := errors.Unwrap(err); inner != nil {
				walk(inner)
				return
			}
			out = append(out, &FieldError{Msg: err.Error()})
		}
	}
	walk(err)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// decodeError converts the error mapstructure reported at path, whose Go
// type is t.
func decodeError(path string, t reflect.Type, err error) []*FieldError {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*FieldError
		for _, e := range j.Unwrap() {
			out = append(out, decodeError(path, t, e)...)
		}
		return out
	}
	const invalidKeys = "has invalid keys: "
	msg := err.Error()
	if keys, ok := strings.CutPrefix(msg, invalidKeys); ok {
		var out []*FieldError
		for _, key := range strings.Split(keys, ", ") {
			out = append(out, &FieldError{
				Path: joinPath(path, key),
				Msg:  "unknown key" + unknownKeyHint(t, key),
			})
		}
		return out
	}
	var ute *mapstructure.UnconvertibleTypeError
	if errors.As(err, &ute) {
		msg = "expected " + describeType(ute.Expected.Type()) + ", got " + describeValue(ute.Value)
	} else if t != nil {
		// mapstructure's own words for a mapping or list of the wrong kind.
		for _, prefix := range []string{
			"source data must be an array or slice, got ",
			"expected a map or struct, got ",
			"expected a map, got ",
		} {
			if kind, ok := strings.CutPrefix(msg, prefix); ok {
				msg = "expected " + describeType(t) + ", got " + describeKind(strings.Trim(kind, `"`))
				break
			}
		}
	}
	return []*FieldError{{Path: path, Msg: msg}}
}

// describeKind names a reflect.Kind string the way a YAML author thinks of
// it.
func describeKind(kind string) string {
	switch {
	case kind == "map" || kind == "struct":
		return "a mapping"
	case kind == "slice" || kind == "array":
		return "a list"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "true or false"
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "a number"
	}
	return kind
}

// unknownKeyHint suggests what was meant by an unknown key in a struct of
// type t.
func unknownKeyHint(t reflect.Type, key string) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return ""
	}
	var fields []string
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("koanf"); tag != "" {
			fields = append(fields, tag)
		}
	}
	switch t {
	case reflect.TypeOf(yamlCluster{}):
		if field, ok := structuredKeys[key]; ok {
			return " (use " + field + ")"
		}
		if strings.Contains(key, ".") {
			return " (Java client properties go under properties)"
		}
	case reflect.TypeOf(yamlFile{}), reflect.TypeOf(yamlFlow{}):
		if strings.Contains(key, ".") {
			return " (MM2 keys go under settings)"
		}
	}
	if s := suggest(key, fields); s != "" {
		return didYouMean(s)
	}
	return " (known: " + strings.Join(fields, ", ") + ")"
}

// yamlPath converts a mapstructure field name ("clusters[primary].tls",
// "flows[0].topics[1]") into a YAML path ("clusters.primary.tls",
// "flows[0].topics[1]") by walking the Go type from root, and returns the
// type found there (nil if the walk fails).
func yamlPath(name string, root reflect.Type) (string, reflect.Type) {
	var b strings.Builder
	t := root
	for name != "" {
		var seg string
		bracket := name[0] == '['
		if bracket {
			end := strings.LastIndex(name, "]")
			// The key ends at the first "]" followed by ".", "[" or the end.
			for i := 1; i < len(name); i++ {
				if name[i] == ']' && (i+1 == len(name) || name[i+1] == '.' || name[i+1] == '[') {
					end = i
					break
				}
			}
			if end < 0 {
				end = len(name)
				name += "]"
			}
			seg, name = name[1:end], name[end+1:]
		} else {
			name = strings.TrimPrefix(name, ".")
			end := strings.IndexAny(name, ".[")
			if end < 0 {
				end = len(name)
			}
			seg, name = name[:end], name[end:]
		}
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t != nil && t.Kind() == reflect.Slice && bracket:
			b.WriteString("[" + seg + "]")
			t = t.Elem()
		case t != nil && t.Kind() == reflect.Map && bracket:
			writeSeg(&b, seg)
			t = t.Elem()
		case t != nil && t.Kind() == reflect.Struct && !bracket:
			writeSeg(&b, seg)
			t = structField(t, seg)
		default:
			if bracket {
				b.WriteString("[" + seg + "]")
			} else {
				writeSeg(&b, seg)
			}
			t = nil
		}
	}
	return b.String(), t
}

func writeSeg(b *strings.Builder, seg string) {
	if b.Len() > 0 {
		b.WriteByte('.')
	}
	b.WriteString(seg)
}

// structField returns the type of the field of t tagged name, or nil.
func structField(t reflect.Type, name string) reflect.Type {
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("koanf") == name {
			return t.Field(i).Type
		}
	}
	return nil
}

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

// describeType names a Go type the way a YAML author thinks of it.
func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	default:
		return t.Kind().String()
	}
}

// describeValue names the YAML kind of a decoded value.
func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("the string %q", v)
	case bool:
		return fmt.Sprintf("the bool %v", v)
	case int, int64, uint64, float64:
		return fmt.Sprintf("the number %v", v)
	default:
		return fmt.Sprintf("%T", v)
	}
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

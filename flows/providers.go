package flows

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Config providers resolve ${provider:path:key} references in values when
// the file is loaded, as Kafka's ConfigTransformer does for MM2's worker
// and connector configs, so secrets stay out of the flow file:
//
//	config.providers = file, env
//	config.providers.file.class = org.apache.kafka.common.config.provider.FileConfigProvider
//	config.providers.env.class = org.apache.kafka.common.config.provider.EnvVarConfigProvider
//	config.providers.env.param.allowlist.pattern = MM2_.*
//	A.sasl.jaas.config = ${file:/etc/mm2/secrets.properties:jaas}
//	B.ssl.key.password = ${env:MM2_KEY_PASSWORD}
//
// Kafka's three providers are implemented: FileConfigProvider
// (${file:/path/file.properties:key}, a key of a .properties file),
// DirectoryConfigProvider (${dir:/path:name}, the whole content of file
// name in the directory), both with their allowed.paths parameter, and
// EnvVarConfigProvider (${env:NAME}, with allowlist.pattern). Any other
// class, an unknown parameter, a reference to a provider that is not
// listed, and a reference that does not resolve are errors naming the key:
// Kafka would leave the reference in the value, which then fails later or,
// worse, is used as the literal value. Resolved values never appear in
// messages (see secretSet).

// Provider classes.
const (
	fileProviderClass = "org.apache.kafka.common.config.provider.FileConfigProvider"
	dirProviderClass  = "org.apache.kafka.common.config.provider.DirectoryConfigProvider"
	envProviderClass  = "org.apache.kafka.common.config.provider.EnvVarConfigProvider"
)

// providerRef matches a reference, as Kafka's ConfigTransformer.DEFAULT_PATTERN:
// ${provider:path:key} or ${provider:key}.
var providerRef = regexp.MustCompile(`\$\{([^}]*?):(?:([^}]*?):)?([^}]*?)\}`)

// providerDef is one provider as the file defines it.
type providerDef struct {
	name, class string
	params      map[string]string
	// path returns where a part of the definition was written: "" for the
	// class, else the parameter.
	path func(param string) string
}

// provider resolves the references to one configured provider.
type provider interface {
	get(path, key string) (string, error)
}

// providers are the configured providers by name.
type providers map[string]provider

// newProviders builds the providers defs describe; problems name where a
// definition went wrong.
func newProviders(defs []providerDef) (providers, []*FieldError) {
	out := make(providers, len(defs))
	var probs []*FieldError
	for _, d := range defs {
		p, errs := newProvider(d)
		probs = append(probs, errs...)
		if p != nil {
			out[d.name] = p
		}
	}
	return out, probs
}

func newProvider(d providerDef) (provider, []*FieldError) {
	var probs []*FieldError
	bad := func(param, format string, args ...any) {
		probs = append(probs, &FieldError{Path: d.path(param), Msg: fmt.Sprintf(format, args...)})
	}
	class := strings.TrimSpace(d.class)
	switch class {
	case "":
		bad("", "config provider %s has no class: set it to FileConfigProvider, DirectoryConfigProvider or EnvVarConfigProvider (org.apache.kafka.common.config.provider)", d.name)
		return nil, probs
	case fileProviderClass, shortName(fileProviderClass), dirProviderClass, shortName(dirProviderClass):
		allowed, ok := d.params["allowed.paths"]
		for _, p := range sortedKeys(d.params) {
			if p != "allowed.paths" {
				bad(p, "unknown parameter of %s: it has only allowed.paths", shortName(class))
			}
		}
		var roots []string
		if ok {
			for _, r := range strings.Split(allowed, ",") {
				r = strings.TrimSpace(r)
				switch clean := filepath.Clean(r); {
				case r == "":
				case !filepath.IsAbs(clean):
					bad("allowed.paths", "path %s is not absolute", quote(r))
				default:
					if _, err := os.Stat(clean); err != nil {
						bad("allowed.paths", "path %s does not exist", quote(r))
						continue
					}
					roots = append(roots, clean)
				}
			}
		}
		if strings.HasSuffix(class, "FileConfigProvider") {
			return &fileProvider{roots: roots, restricted: ok, files: make(map[string]map[string]string)}, probs
		}
		return &dirProvider{roots: roots, restricted: ok}, probs
	case envProviderClass, shortName(envProviderClass):
		p := &envProvider{lookup: os.LookupEnv}
		for _, k := range sortedKeys(d.params) {
			if k != "allowlist.pattern" {
				bad(k, "unknown parameter of EnvVarConfigProvider: it has only allowlist.pattern")
				continue
			}
			re, err := regexp.Compile("^(?:" + d.params[k] + ")$")
			if err != nil {
				bad(k, "bad regex %s: %v", quote(d.params[k]), err)
				continue
			}
			p.allow = re
		}
		return p, probs
	}
	bad("", "config provider class %s cannot run in mm2go, which has FileConfigProvider, DirectoryConfigProvider and EnvVarConfigProvider (org.apache.kafka.common.config.provider)", class)
	return nil, probs
}

// resolve replaces every reference in value and returns the values it put
// in (pieces), which no message may show. The error names what did not
// resolve, never a resolved value.
func (ps providers) resolve(value string) (out string, pieces []string, err error) {
	if !strings.Contains(value, "${") {
		return value, nil, nil
	}
	var errs []error
	out = providerRef.ReplaceAllStringFunc(value, func(ref string) string {
		m := providerRef.FindStringSubmatch(ref)
		name, path, key := m[1], m[2], m[3]
		p, ok := ps[name]
		if !ok {
			errs = append(errs, fmt.Errorf("references config provider %q, which is not defined (config.providers in mm2.properties, config_providers in YAML)", name))
			return ref
		}
		v, err := p.get(path, key)
		if err != nil {
			errs = append(errs, fmt.Errorf("resolve ${%s:...}: %w", name, err))
			return ref
		}
		pieces = append(pieces, v)
		return v
	})
	return out, pieces, errors.Join(errs...)
}

// allowedPath returns path cleaned if it is under one of roots (when
// restricted), as Kafka's AllowedPaths decides.
func allowedPath(path string, roots []string, restricted bool) (string, error) {
	if path == "" {
		return "", errors.New("no path given")
	}
	clean := filepath.Clean(path)
	if !restricted {
		return clean, nil
	}
	for _, r := range roots {
		if clean == r || strings.HasPrefix(clean, strings.TrimSuffix(r, string(filepath.Separator))+string(filepath.Separator)) {
			return clean, nil
		}
	}
	return "", fmt.Errorf("path %s is outside the provider's allowed.paths", quote(path))
}

// readSmall reads a file of at most MaxFileSize bytes.
func readSmall(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, errTooLarge(path)
	}
	return data, nil
}

// fileProvider is Kafka's FileConfigProvider: a key of a .properties file.
type fileProvider struct {
	roots      []string
	restricted bool
	files      map[string]map[string]string // read once per load
}

func (p *fileProvider) get(path, key string) (string, error) {
	clean, err := allowedPath(path, p.roots, p.restricted)
	if err != nil {
		return "", err
	}
	kv, ok := p.files[clean]
	if !ok {
		data, err := readSmall(clean)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", clean, err)
		}
		props, perr := parseProperties(data)
		var le *lineError
		if errors.As(perr, &le) {
			// The message of a bad escape quotes the file: give its line only.
			return "", fmt.Errorf("read %s: line %d: malformed \\uXXXX escape", clean, le.line)
		}
		kv = make(map[string]string, len(props))
		for _, e := range props {
			kv[e.key] = e.value
		}
		p.files[clean] = kv
	}
	v, ok := kv[key]
	if !ok {
		return "", fmt.Errorf("no key %s in %s", quote(key), clean)
	}
	return v, nil
}

// dirProvider is Kafka's DirectoryConfigProvider: the content of a file in
// a directory, as it is (a trailing newline stays, as in Java).
type dirProvider struct {
	roots      []string
	restricted bool
}

func (p *dirProvider) get(path, key string) (string, error) {
	dir, err := allowedPath(path, p.roots, p.restricted)
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	if key == "" || strings.ContainsRune(key, filepath.Separator) || key == "." || key == ".." {
		return "", fmt.Errorf("%s is not a file name", quote(key))
	}
	file := filepath.Join(dir, key)
	if st, err := os.Stat(file); err != nil || !st.Mode().IsRegular() {
		return "", fmt.Errorf("no file %s in %s", quote(key), dir)
	}
	data, err := readSmall(file)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", file, err)
	}
	return string(data), nil
}

// envProvider is Kafka's EnvVarConfigProvider: an environment variable
// whose whole name matches allowlist.pattern (default: any).
type envProvider struct {
	allow  *regexp.Regexp
	lookup func(string) (string, bool)
}

func (p *envProvider) get(path, key string) (string, error) {
	if path != "" {
		return "", fmt.Errorf("EnvVarConfigProvider takes no path; write ${<provider>:%s}", key)
	}
	if p.allow != nil && !p.allow.MatchString(key) {
		return "", fmt.Errorf("environment variable %s does not match the provider's allowlist.pattern", key)
	}
	v, ok := p.lookup(key)
	if !ok {
		return "", fmt.Errorf("environment variable %s is not set", key)
	}
	return v, nil
}

// propertyProviders reads the provider definitions of an mm2.properties
// file: config.providers lists the names, config.providers.<name>.class and
// config.providers.<name>.param.<p> define each. Keys under
// config.providers for names that are not listed are problems.
func propertyProviders(top map[string]string) ([]providerDef, []*FieldError) {
	var probs []*FieldError
	listed := make(map[string]bool)
	var defs []providerDef
	for _, name := range splitList(top["config.providers"]) {
		if listed[name] {
			continue
		}
		listed[name] = true
		d := providerDef{name: name, class: top["config.providers."+name+".class"], params: make(map[string]string)}
		prefix := "config.providers." + name + ".param."
		for k, v := range top {
			if p, ok := strings.CutPrefix(k, prefix); ok {
				d.params[p] = v
			}
		}
		d.path = func(param string) string {
			if param == "" {
				return "config.providers." + name + ".class"
			}
			return prefix + param
		}
		defs = append(defs, d)
	}
	for _, k := range sortedKeys(top) {
		rest, ok := strings.CutPrefix(k, "config.providers.")
		if !ok {
			continue
		}
		name, sub, _ := strings.Cut(rest, ".")
		switch {
		case !listed[name]:
			probs = append(probs, &FieldError{Path: k, Msg: fmt.Sprintf("config provider %q is not listed in config.providers", name)})
		case sub != "class" && !strings.HasPrefix(sub, "param."):
			probs = append(probs, &FieldError{Path: k, Msg: "unknown key: a config provider has class and param.<name>"})
		}
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].name < defs[j].name })
	return defs, probs
}

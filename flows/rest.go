package flows

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// REST is what the flow file says of the worker's REST listener, from MM2's
// keys (top level only): listeners, rest.advertised.host.name,
// rest.advertised.port, rest.advertised.listener and
// dedicated.mode.enable.internal.rest. The command line (mm2go worker
// --http-addr, --http-advertised-url) overrides it. TLS for the listener
// is set on the command line too (PEM files): the listeners.https.* keys
// of Java key stores are refused by name.
type REST struct {
	// Addr is the host:port to listen on ("" host: every address); "" when
	// the file asks for no listener.
	Addr string
	// HTTPS: the listener is https:// (it needs a certificate on the
	// command line).
	HTTPS bool
	// AdvertisedHost, AdvertisedPort and AdvertisedScheme are how the other
	// workers of the group reach this one; empty (0) when not set.
	AdvertisedHost   string
	AdvertisedPort   int
	AdvertisedScheme string
}

// connectDefaultListener is Connect's listeners default, which MM2 uses
// with dedicated.mode.enable.internal.rest=true.
const connectDefaultListener = "http://:8083"

// REST returns the file's REST listener settings. It assumes the file
// passed Validate (which checks the same keys).
func (f *File) REST() (REST, error) {
	var r REST
	s := f.Settings
	listeners := strings.TrimSpace(s["listeners"])
	if on, _ := parseBool(strings.TrimSpace(s["dedicated.mode.enable.internal.rest"])); on && listeners == "" {
		listeners = connectDefaultListener
	}
	if listeners != "" {
		scheme, addr, err := parseListeners(listeners)
		if err != nil {
			return REST{}, fmt.Errorf("%s: %w", f.path("listeners"), err)
		}
		r.Addr, r.HTTPS = addr, scheme == "https"
	}
	r.AdvertisedHost = strings.TrimSpace(s["rest.advertised.host.name"])
	if p := strings.TrimSpace(s["rest.advertised.port"]); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return REST{}, fmt.Errorf("%s: %q is not a port", f.path("rest.advertised.port"), p)
		}
		r.AdvertisedPort = n
	}
	r.AdvertisedScheme = strings.ToLower(strings.TrimSpace(s["rest.advertised.listener"]))
	return r, nil
}

// path is where a top-level setting was written.
func (f *File) path(key string) string {
	if p, ok := f.origin[key]; ok {
		return p
	}
	return "settings." + key
}

// parseListeners parses Connect's listeners: mm2go serves one listener,
// http://host:port or https://host:port (an empty host: every address).
func parseListeners(v string) (scheme, addr string, err error) {
	items := splitList(v)
	if len(items) != 1 {
		return "", "", fmt.Errorf("%q lists %d listeners; mm2go serves one: list one http:// or https:// URI", v, len(items))
	}
	u, err := url.Parse(items[0])
	if err != nil || u.Host == "" && u.Opaque != "" {
		return "", "", fmt.Errorf("%q is not a listener URI such as http://0.0.0.0:8083", items[0])
	}
	scheme = strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", "", fmt.Errorf("%q: the protocol must be http or https", items[0])
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return "", "", fmt.Errorf("%q has no port: write it as %s://host:8083", items[0], scheme)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", "", fmt.Errorf("%q: %q is not a port", items[0], port)
	}
	if u.Path != "" && u.Path != "/" {
		return "", "", errors.New("a listener has no path: " + items[0])
	}
	return scheme, net.JoinHostPort(host, port), nil
}

// restRefused are Connect REST keys mm2go does not do anything like, with
// why; an empty value (Connect's default) is accepted.
var restRefused = map[string]string{
	"access.control.allow.origin":      "mm2go's REST API sends no CORS headers (it is for operators and tools, not browsers): remove the key",
	"access.control.allow.methods":     "mm2go's REST API sends no CORS headers (it is for operators and tools, not browsers): remove the key",
	"response.http.headers.config":     "mm2go's REST API does not add response headers: remove the key",
	"rest.extension.classes":           "REST extensions are Java plugins mm2go cannot run; for authentication, mm2go worker takes a bearer token (--http-token-file) and TLS client certificates (--http-tls-client-ca)",
	"admin.listeners":                  "mm2go serves no admin REST API (/admin/loggers): remove the key or leave it empty",
	"rest.servlet.initializor.classes": "servlet initializers are Java plugins mm2go cannot run: remove the key",
}

// restKeyProblem says why a REST key is refused ("" when it is fine).
func restKeyProblem(key, value string) string {
	v := strings.TrimSpace(value)
	if why, ok := restRefused[key]; ok {
		if v == "" {
			return ""
		}
		return why
	}
	for _, p := range []string{"listeners.https.", "admin.listeners.https."} {
		if strings.HasPrefix(key, p) {
			return "the REST listener's TLS is set on the command line with PEM files (mm2go worker --http-tls-cert, --http-tls-key, --http-tls-client-ca), not with Java key stores: remove the key"
		}
	}
	if strings.HasPrefix(key, "rest.") {
		switch key {
		case "rest.host.name", "rest.port":
			return "removed in Kafka 3.0: use listeners = http://host:port"
		}
		return "not a Connect REST key mm2go knows (it knows listeners and rest.advertised.host.name, .port and .listener): remove the key"
	}
	return ""
}

// checkListeners checks a listeners value.
func checkListeners(v string) error {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	_, _, err := parseListeners(v)
	return err
}

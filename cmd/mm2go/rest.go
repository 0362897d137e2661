package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/flows"
)

// tokenEnv holds the REST API's bearer token when --http-token-file does not.
const tokenEnv = "MM2GO_HTTP_TOKEN"

// restFlags are the worker's REST API flags.
type restFlags struct {
	addr, advertised           string
	cert, key, clientCA, token string
	allowInsecure              bool
}

func (r *restFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.addr, "http-addr", "", "serve Kafka Connect's REST API, /health and Prometheus /metrics on this address, such as 127.0.0.1:8083 (:8083: every address; "+
		"needs a token, or TLS with client certificates, or --http-allow-insecure); default: the flow file's listeners, else off")
	fs.StringVar(&r.advertised, "http-advertised-url", "", "the URL the other workers of the group reach this one at, such as https://mm2go-0.mm2go:8083 (MM2's rest.advertised.*); default: the listener's address, the host name for every address")
	fs.StringVar(&r.cert, "http-tls-cert", "", "PEM certificate chain: serve HTTPS (read again when it changes)")
	fs.StringVar(&r.key, "http-tls-key", "", "PEM private key of --http-tls-cert")
	fs.StringVar(&r.clientCA, "http-tls-client-ca", "", "PEM CA certificates: clients (and the other workers) must present a certificate one of them signed")
	fs.StringVar(&r.token, "http-token-file", "", "file holding the bearer token every REST request needs but /health, /health/live and /metrics (or set "+tokenEnv+"); the workers of a group share it")
	fs.BoolVar(&r.allowInsecure, "http-allow-insecure", false, "accept serving the REST API beyond this host without a token or client certificates (a network private to the workers and their operators)")
}

// listener returns the REST listener the flags and the flow file ask for;
// ok is false when none.
func (r *restFlags) listener(f *flows.File, log hclog.Logger) (l connect.RESTListener, ok bool, err error) {
	fr, err := f.REST()
	if err != nil {
		return l, false, err
	}
	l = connect.RESTListener{Addr: r.addr, CertFile: r.cert, KeyFile: r.key, ClientCAFile: r.clientCA,
		AllowInsecure: r.allowInsecure, AdvertisedURL: r.advertised}
	switch {
	case l.Addr == "" && fr.Addr == "":
		if r.cert != "" || r.clientCA != "" || r.token != "" || r.advertised != "" {
			return l, false, errors.New("REST flags without a listener: set --http-addr (or listeners in the flow file)")
		}
		return l, false, nil
	case l.Addr == "":
		l.Addr = fr.Addr
		if fr.HTTPS && l.CertFile == "" {
			return l, false, fmt.Errorf("the flow file's listeners is https://%s: set --http-tls-cert and --http-tls-key", fr.Addr)
		}
	case fr.Addr != "" && fr.Addr != l.Addr:
		log.Info("--http-addr overrides the flow file's listeners", "http_addr", l.Addr, "listeners", fr.Addr)
	}
	if l.AdvertisedURL == "" && (fr.AdvertisedHost != "" || fr.AdvertisedPort != 0 || fr.AdvertisedScheme != "") {
		l.AdvertisedURL = advertisedURL(l, fr)
	}
	l.Token, err = r.readToken()
	return l, true, err
}

// advertisedURL builds the URL MM2's rest.advertised.* keys describe,
// taking what they leave out from the listener.
func advertisedURL(l connect.RESTListener, fr flows.REST) string {
	scheme := "http"
	if l.CertFile != "" {
		scheme = "https"
	}
	if fr.AdvertisedScheme != "" {
		scheme = fr.AdvertisedScheme
	}
	host, port, _ := net.SplitHostPort(l.Addr)
	if fr.AdvertisedHost != "" {
		host = fr.AdvertisedHost
	} else if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host, _ = os.Hostname()
	}
	if fr.AdvertisedPort != 0 {
		port = strconv.Itoa(fr.AdvertisedPort)
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// readToken reads the bearer token from --http-token-file or the
// environment. It never shows it.
func (r *restFlags) readToken() (string, error) {
	env, inEnv := os.LookupEnv(tokenEnv)
	switch {
	case r.token != "" && inEnv:
		return "", fmt.Errorf("both --http-token-file and %s are set: set one", tokenEnv)
	case r.token != "":
		b, err := os.ReadFile(r.token)
		if err != nil {
			return "", fmt.Errorf("--http-token-file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("--http-token-file: %s is empty", r.token)
		}
		if strings.ContainsAny(tok, " \t\r\n") {
			return "", fmt.Errorf("--http-token-file: %s holds more than one word; a bearer token is one", r.token)
		}
		return tok, nil
	case inEnv:
		tok := strings.TrimSpace(env)
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
			return "", fmt.Errorf("%s is empty or holds more than one word; a bearer token is one", tokenEnv)
		}
		return tok, nil
	}
	return "", nil
}

// groupCluster is the cluster a worker group of the file lives on by
// default: the first target of its enabled flows in sorted order (as
// connect/group places it).
func groupCluster(f *flows.File) string {
	e, err := f.Expand()
	if err != nil {
		return ""
	}
	var targets []string
	for _, fl := range e.Flows {
		targets = append(targets, fl.Target)
	}
	sort.Strings(targets)
	if len(targets) == 0 {
		return ""
	}
	return targets[0]
}

// workerClient is the HTTP client that asks a worker's REST API: with the
// bearer token of tokenFile, or of MM2GO_HTTP_TOKEN, when set.
func workerClient(tokenFile string) (*http.Client, error) {
	r := restFlags{token: tokenFile}
	tok, err := r.readToken()
	if err != nil {
		return nil, errors.New(strings.ReplaceAll(err.Error(), "--http-token-file", "--worker-token-file"))
	}
	if tok == "" {
		return http.DefaultClient, nil
	}
	return &http.Client{Transport: bearer{token: tok, next: http.DefaultTransport}}, nil
}

// bearer adds a bearer token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

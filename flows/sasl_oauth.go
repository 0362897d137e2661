package flows

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// Java client properties of OAUTHBEARER logins, read from
// Cluster.Properties, with their ranges and Kafka's defaults.
var saslLoginProps = map[string]struct {
	lo, hi, def float64
}{
	"sasl.login.refresh.window.factor":      {0.5, 1.0, 0.8},
	"sasl.login.refresh.window.jitter":      {0, 0.25, 0.05},
	"sasl.login.refresh.min.period.seconds": {0, 900, 60},
	"sasl.login.refresh.buffer.seconds":     {0, 3600, 300},
	"sasl.login.connect.timeout.ms":         {1, 24 * 3600 * 1000, 10_000},
	"sasl.login.read.timeout.ms":            {1, 24 * 3600 * 1000, 30_000},
	"sasl.login.retry.backoff.ms":           {0, 3600 * 1000, 100},
	"sasl.login.retry.backoff.max.ms":       {0, 3600 * 1000, 10_000},
}

// isSASLLoginProp reports whether key is one of saslLoginProps.
func isSASLLoginProp(key string) bool { _, ok := saslLoginProps[key]; return ok }

// loginProp returns the value of an OAUTHBEARER login property of c.
func (c *Cluster) loginProp(key string) (float64, error) {
	r := saslLoginProps[key]
	v, ok := c.Properties[key]
	if !ok {
		return r.def, nil
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, &FieldError{Path: c.at("properties." + key), Msg: fmt.Sprintf("expected a number, got %q", v)}
	}
	if n < r.lo || n > r.hi {
		return 0, &FieldError{Path: c.at("properties." + key), Msg: fmt.Sprintf("%v is out of range: use %v to %v", n, r.lo, r.hi)}
	}
	return n, nil
}

// checkSASLLoginProps returns the errors in the login properties of c.
func checkSASLLoginProps(c *Cluster) []error {
	var errs []error
	for _, key := range sortedKeys(c.Properties) {
		if isSASLLoginProp(key) {
			if _, err := c.loginProp(key); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// refreshConfig is when a token is fetched again, as Kafka's
// ExpiringCredentialRefreshingLogin decides it.
type refreshConfig struct {
	factor, jitter    float64
	minPeriod, buffer time.Duration
}

// refreshAt returns when a token issued at start that expires at exp is
// to be replaced, seen at now: after factor (plus up to jitter) of its
// lifetime, but at least buffer before it expires and minPeriod after
// now, where the two allow it.
func (r refreshConfig) refreshAt(now, start, exp time.Time) time.Time {
	if !exp.After(now) {
		return now
	}
	if start.After(now) || start.IsZero() {
		start = now
	}
	life := exp.Sub(start)
	at := start.Add(time.Duration(float64(life) * (r.factor + r.jitter*rand.Float64())))
	if exp.Sub(at) < r.buffer {
		at = exp.Add(-r.buffer)
	}
	if at.Sub(now) < r.minPeriod {
		at = now.Add(r.minPeriod)
	}
	if at.After(exp) {
		at = exp
	}
	return at
}

// tokenSource fetches OAUTHBEARER tokens from a token endpoint with the
// client credentials grant, as Kafka's OAuthBearerLoginCallbackHandler
// does, and caches each until its refresh time. Kafka refreshes in a
// background thread; franz-go asks for a token whenever a connection
// authenticates or re-authenticates (KIP-368, when the broker's session
// ends with the token), so the cache is refreshed then, before expiry.
// One source serves every client of a cluster.
type tokenSource struct {
	o       OAuth
	refresh refreshConfig
	http    *http.Client
	// retryBackoff and retryMax pace retries of a failed request; the
	// retries stop when their waits would pass retryMax in total.
	retryBackoff, retryMax time.Duration
	now                    func() time.Time

	mu        sync.Mutex // guards the fields below and serialises fetches
	token     string
	refreshAt time.Time
	expires   time.Time
}

// oauthMechanism returns OAUTHBEARER with tokens from the token endpoint.
func (c *Cluster) oauthMechanism() (sasl.Mechanism, error) {
	ts, err := c.newTokenSource()
	if err != nil {
		return nil, err
	}
	ext := c.SASL.OAuth.Extensions
	return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
		tok, err := ts.get(ctx)
		if err != nil {
			return oauth.Auth{}, err
		}
		return oauth.Auth{Token: tok, Extensions: ext}, nil
	}), nil
}

func (c *Cluster) newTokenSource() (*tokenSource, error) {
	var vals = map[string]float64{}
	var errs []error
	for key := range saslLoginProps {
		v, err := c.loginProp(key)
		if err != nil {
			errs = append(errs, err)
		}
		vals[key] = v
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	ms := func(key string) time.Duration { return time.Duration(vals[key] * float64(time.Millisecond)) }
	connect, read := ms("sasl.login.connect.timeout.ms"), ms("sasl.login.read.timeout.ms")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: connect}).DialContext
	tr.TLSHandshakeTimeout = connect
	tr.ResponseHeaderTimeout = read
	return &tokenSource{
		o: *c.SASL.OAuth,
		refresh: refreshConfig{
			factor:    vals["sasl.login.refresh.window.factor"],
			jitter:    vals["sasl.login.refresh.window.jitter"],
			minPeriod: time.Duration(vals["sasl.login.refresh.min.period.seconds"] * float64(time.Second)),
			buffer:    time.Duration(vals["sasl.login.refresh.buffer.seconds"] * float64(time.Second)),
		},
		http:         &http.Client{Transport: tr, Timeout: connect + read},
		retryBackoff: ms("sasl.login.retry.backoff.ms"),
		retryMax:     ms("sasl.login.retry.backoff.max.ms"),
		now:          time.Now,
	}, nil
}

// get returns a token, fetching one if none is cached or the cached one
// is due for refresh. If a refresh fails while the cached token is still
// valid, the cached token is used and the next call tries again.
func (ts *tokenSource) get(ctx context.Context) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	now := ts.now()
	if ts.token != "" && now.Before(ts.refreshAt) {
		return ts.token, nil
	}
	tok, err := ts.fetch(ctx)
	if err == nil {
		var claims jwtClaims
		claims, err = parseJWT(tok, ts.o.SubClaimName, ts.o.ScopeClaimName)
		if err == nil {
			ts.token, ts.expires = tok, claims.exp
			ts.refreshAt = ts.refresh.refreshAt(now, claims.iat, claims.exp)
			return tok, nil
		}
		err = fmt.Errorf("token from %s: %w", ts.endpoint(), err)
	}
	if ts.token != "" && now.Before(ts.expires) {
		return ts.token, nil
	}
	return "", err
}

// endpoint returns the token endpoint URL for messages, without a
// password in it.
func (ts *tokenSource) endpoint() string {
	u, err := url.Parse(ts.o.TokenEndpointURL)
	if err != nil {
		return "the token endpoint"
	}
	return u.Redacted()
}

// fetch gets a new token: from the file of a file: URL, or from the token
// endpoint, retrying network errors and answers that may pass.
func (ts *tokenSource) fetch(ctx context.Context) (string, error) {
	u, err := url.Parse(ts.o.TokenEndpointURL)
	if err != nil {
		return "", fmt.Errorf("parse token endpoint URL: %w", err)
	}
	if u.Scheme == "file" {
		b, err := os.ReadFile(u.Path)
		if err != nil {
			return "", fmt.Errorf("read OAUTHBEARER token: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	body := "grant_type=client_credentials"
	if ts.o.Scope != "" {
		body += "&scope=" + url.QueryEscape(ts.o.Scope)
	}
	id, secret := ts.o.ClientID, ts.o.ClientSecret
	if ts.o.HeaderURLEncode {
		id, secret = url.QueryEscape(id), url.QueryEscape(secret)
	}
	authz := "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))

	deadline := ts.now().Add(ts.retryMax)
	wait := ts.retryBackoff
	for attempt := 1; ; attempt++ {
		tok, retriable, err := ts.post(ctx, body, authz)
		if err == nil {
			return tok, nil
		}
		left := deadline.Sub(ts.now())
		if !retriable || left <= 0 {
			return "", fmt.Errorf("get OAUTHBEARER token from %s (attempt %d): %w", ts.endpoint(), attempt, err)
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return "", fmt.Errorf("get OAUTHBEARER token from %s: %w (last error: %v)", ts.endpoint(), ctx.Err(), err)
		case <-t.C:
		}
		wait *= 2
	}
}

// unretriableStatus are the HTTP answers Kafka does not retry.
var unretriableStatus = map[int]bool{400: true, 401: true, 402: true, 403: true, 404: true, 405: true,
	406: true, 407: true, 409: true, 410: true, 411: true, 412: true, 413: true, 414: true, 415: true, 501: true, 505: true}

// post sends one token request.
func (ts *tokenSource) post(ctx context.Context, body, authz string) (token string, retriable bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.o.TokenEndpointURL, strings.NewReader(body))
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Authorization", authz)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := ts.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL
		}
		return "", true, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", true, fmt.Errorf("read answer: %w", err)
	}
	// The body of a success holds the token: it is never put in an error.
	// An error answer holds only "error" and "error_description" (RFC 6749
	// section 5.2), which are safe to show.
	var r struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	jsonErr := json.Unmarshal(data, &r)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		msg := resp.Status
		if jsonErr == nil && r.Error != "" {
			msg += ": " + r.Error
			if r.Description != "" {
				msg += " (" + r.Description + ")"
			}
		}
		return "", !unretriableStatus[resp.StatusCode], errors.New(msg)
	}
	if jsonErr != nil {
		return "", false, errors.New("answer is not JSON")
	}
	if r.AccessToken == "" {
		return "", false, errors.New("answer has no access_token")
	}
	return r.AccessToken, false, nil
}

// jwtClaims are the claims Kafka's LoginAccessTokenValidator checks.
type jwtClaims struct {
	exp, iat time.Time
	sub      string
	scope    []string
}

// parseJWT checks a token as Kafka's LoginAccessTokenValidator does: a
// JWT (header.payload.signature; the signature is the broker's to check)
// whose payload has a numeric "exp", a non-empty subject claim and, if
// present, a numeric "iat" and a string or string-list scope claim.
// Errors never hold the token.
func parseJWT(tok, subClaim, scopeClaim string) (jwtClaims, error) {
	if subClaim == "" {
		subClaim = "sub"
	}
	if scopeClaim == "" {
		scopeClaim = "scope"
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return jwtClaims{}, errors.New("not a JWT: want header.payload.signature, as Kafka does")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return jwtClaims{}, errors.New("JWT payload is not base64url")
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		return jwtClaims{}, errors.New("JWT payload is not a JSON object")
	}
	var c jwtClaims
	exp, ok := m["exp"].(float64)
	if !ok {
		return jwtClaims{}, errors.New(`JWT has no numeric "exp" claim`)
	}
	c.exp = time.UnixMilli(int64(exp * 1000))
	if v, present := m["iat"]; present {
		iat, ok := v.(float64)
		if !ok {
			return jwtClaims{}, errors.New(`JWT claim "iat" is not a number`)
		}
		c.iat = time.UnixMilli(int64(iat * 1000))
	}
	if c.sub, _ = m[subClaim].(string); strings.TrimSpace(c.sub) == "" {
		return jwtClaims{}, fmt.Errorf("JWT has no subject claim %q (sasl.oauthbearer.sub.claim.name)", subClaim)
	}
	switch v := m[scopeClaim].(type) {
	case nil:
	case string:
		c.scope = strings.Fields(v)
	case []any:
		for _, s := range v {
			str, ok := s.(string)
			if !ok {
				return jwtClaims{}, fmt.Errorf("JWT scope claim %q is not a list of strings", scopeClaim)
			}
			c.scope = append(c.scope, str)
		}
	default:
		return jwtClaims{}, fmt.Errorf("JWT scope claim %q is neither a string nor a list of strings", scopeClaim)
	}
	return c, nil
}

// SASL extensions, as Kafka's SaslExtensions checks them.
var (
	extensionKey   = regexp.MustCompile(`^[A-Za-z]+$`)
	extensionValue = regexp.MustCompile(`^[\x21-\x7E \t\r\n]+$`)
)

// checkExtensions returns the problems of SASL extensions.
func checkExtensions(ext map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(ext) {
		switch {
		case k == "auth":
			out = append(out, `extension name "auth" is reserved`)
		case !extensionKey.MatchString(k):
			out = append(out, fmt.Sprintf("extension name %q must be letters only", k))
		case !extensionValue.MatchString(ext[k]):
			out = append(out, fmt.Sprintf("extension %s has characters Kafka does not allow", k))
		}
	}
	return out
}

// oauth checks the OAUTHBEARER settings of c.
func (v *validator) oauth(c *Cluster) {
	o := c.SASL.OAuth
	for _, p := range checkExtensions(o.Extensions) {
		v.add(c.at("sasl.oauth.extensions"), "%s", p)
	}
	if o.Unsecured != nil {
		if o.TokenEndpointURL != "" || o.ClientID != "" || o.ClientSecret != "" || o.Scope != "" {
			v.add(c.at("sasl.oauth.unsecured"), "set together with a token endpoint or client credentials: unsecured tokens are made by mm2go itself")
		}
		if _, err := unsecuredToken(o.Unsecured, time.Now()); err != nil {
			v.add(c.at("sasl.oauth.unsecured"), "%v", err)
		}
		return
	}
	if o.TokenEndpointURL == "" {
		v.add(c.at("sasl.oauth.token_endpoint_url"), "required: the identity provider's token endpoint (https://...), or a file: URL of a file holding a token")
		return
	}
	u, err := url.Parse(o.TokenEndpointURL)
	switch {
	case err != nil:
		v.add(c.at("sasl.oauth.token_endpoint_url"), "not a URL: %v", err)
		return
	case u.Scheme == "file":
		if u.Path == "" {
			v.add(c.at("sasl.oauth.token_endpoint_url"), "file: URL without a path")
		}
		return
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
		v.add(c.at("sasl.oauth.token_endpoint_url"), "%s is not an http(s):// or file: URL", u.Redacted())
		return
	}
	if o.ClientID == "" {
		v.add(c.at("sasl.oauth.client_id"), "required with a token endpoint (clientId)")
	}
	if o.ClientSecret == "" {
		v.add(c.at("sasl.oauth.client_secret"), "required with a token endpoint (clientSecret)")
	}
}

package flows

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// Options of Kafka's OAuthBearerUnsecuredLoginCallbackHandler.
const (
	unsecuredPrefix         = "unsecuredLogin"
	unsecuredStringClaim    = unsecuredPrefix + "StringClaim_"
	unsecuredNumberClaim    = unsecuredPrefix + "NumberClaim_"
	unsecuredListClaim      = unsecuredPrefix + "ListClaim_"
	unsecuredExtension      = unsecuredPrefix + "Extension_"
	unsecuredPrincipalClaim = unsecuredPrefix + "PrincipalClaimName"
	unsecuredLifetime       = unsecuredPrefix + "LifetimeSeconds"
	unsecuredScopeClaim     = unsecuredPrefix + "ScopeClaimName"
)

// unsecuredOAuthMechanism returns OAUTHBEARER with unsigned tokens built
// from the unsecuredLogin* options, a new one for each authentication.
func (c *Cluster) unsecuredOAuthMechanism() (sasl.Mechanism, error) {
	opts := c.SASL.OAuth.Unsecured
	if _, err := unsecuredToken(opts, time.Now()); err != nil {
		return nil, &FieldError{Path: c.at("sasl.oauth.unsecured"), Msg: err.Error()}
	}
	ext := unsecuredExtensions(opts)
	for k, v := range c.SASL.OAuth.Extensions {
		ext[k] = v
	}
	return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
		tok, err := unsecuredToken(opts, time.Now())
		if err != nil {
			return oauth.Auth{}, err
		}
		return oauth.Auth{Token: tok, Extensions: ext}, nil
	}), nil
}

// unsecuredExtensions returns the unsecuredLoginExtension_<name> options.
func unsecuredExtensions(opts map[string]string) map[string]string {
	ext := make(map[string]string)
	for k, v := range opts {
		if name, ok := strings.CutPrefix(k, unsecuredExtension); ok {
			ext[name] = v
		}
	}
	return ext
}

// unsecuredToken builds an unsigned JWT ({"alg":"none"}) as Kafka's
// OAuthBearerUnsecuredLoginCallbackHandler does: "exp" and "iat" from now
// and unsecuredLoginLifetimeSeconds (default 3600), and the string,
// number and list claims of the options; the principal claim
// (unsecuredLoginPrincipalClaimName, default "sub") must be one of them.
func unsecuredToken(opts map[string]string, now time.Time) (string, error) {
	lifetime := int64(3600)
	principal := "sub"
	claims := map[string]any{}
	var errs []error
	for _, k := range sortedKeys(opts) {
		v := opts[k]
		var name string
		var value any
		switch {
		case k == unsecuredPrincipalClaim:
			if strings.TrimSpace(v) != "" {
				principal = strings.TrimSpace(v)
			}
			continue
		case k == unsecuredScopeClaim:
			continue // only the broker's validator reads it
		case k == unsecuredLifetime:
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n <= 0 {
				errs = append(errs, fmt.Errorf("%s: expected a positive number of seconds, got %q", k, v))
			}
			lifetime = n
			continue
		case strings.HasPrefix(k, unsecuredExtension):
			continue
		case strings.HasPrefix(k, unsecuredStringClaim) && len(k) > len(unsecuredStringClaim):
			name, value = k[len(unsecuredStringClaim):], v
		case strings.HasPrefix(k, unsecuredNumberClaim) && len(k) > len(unsecuredNumberClaim):
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: expected a number, got %q", k, v))
			}
			name, value = k[len(unsecuredNumberClaim):], n
		case strings.HasPrefix(k, unsecuredListClaim) && len(k) > len(unsecuredListClaim):
			name, value = k[len(unsecuredListClaim):], splitDelimited(v)
		default:
			errs = append(errs, fmt.Errorf("unknown unsecured login option %s", k))
			continue
		}
		if name == "exp" || name == "iat" {
			errs = append(errs, fmt.Errorf("%s: the %q claim is set by mm2go", k, name))
			continue
		}
		claims[name] = value
	}
	if p, _ := claims[principal].(string); strings.TrimSpace(p) == "" {
		errs = append(errs, fmt.Errorf("no principal: set %s%s", unsecuredStringClaim, principal))
	}
	if len(unsecuredExtensions(opts)) == len(opts) && len(opts) > 0 {
		errs = append(errs, errors.New("extensions given without a token"))
	}
	for _, p := range checkExtensions(unsecuredExtensions(opts)) {
		errs = append(errs, errors.New(p))
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	claims["iat"] = float64(now.UnixMilli()) / 1000
	claims["exp"] = float64(now.UnixMilli())/1000 + float64(lifetime)
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + enc.EncodeToString(payload) + ".", nil
}

// splitDelimited splits a Kafka list claim: its first character is the
// delimiter of the rest ("|read|write").
func splitDelimited(v string) []string {
	if len(v) <= 1 {
		return []string{}
	}
	return strings.Split(v[1:], v[:1])
}

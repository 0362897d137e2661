package flows

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/kerberos"
)

// defaultKrb5Conf is where krb5.conf is when neither the flow file nor
// $KRB5_CONFIG names one.
const defaultKrb5Conf = "/etc/krb5.conf"

// krb5ConfPath returns the krb5.conf to read: the configured one, else
// the first file of $KRB5_CONFIG (a ":"-separated list), else
// /etc/krb5.conf.
func (k *Kerberos) krb5ConfPath() string {
	if k.ConfigFile != "" {
		return k.ConfigFile
	}
	if env := os.Getenv("KRB5_CONFIG"); env != "" {
		first, _, _ := strings.Cut(env, ":")
		return first
	}
	return defaultKrb5Conf
}

// splitPrincipal splits "name[/instance]@REALM"; the realm is "" if
// not written.
func splitPrincipal(p string) (name, realm string) {
	if i := strings.LastIndexByte(p, '@'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return p, ""
}

// kerberosMechanism returns GSSAPI for the cluster's keytab and principal.
// It reads krb5.conf and the keytab, and checks that the keytab holds a
// key for the principal; the KDC is contacted when a connection
// authenticates.
func (c *Cluster) kerberosMechanism() (sasl.Mechanism, error) {
	k := c.SASL.Kerberos
	if k == nil {
		return nil, &FieldError{Path: c.at("sasl.kerberos"), Msg: "required by GSSAPI: give service_name, principal and keytab_file"}
	}
	confPath := k.krb5ConfPath()
	cfg, err := krbconfig.Load(confPath)
	if err != nil {
		var ud krbconfig.UnsupportedDirective
		if !errors.As(err, &ud) { // gokrb5 reports directives it skips; the rest is loaded
			return nil, &FieldError{Path: c.at("sasl.kerberos.config_file"), Msg: fmt.Sprintf("load krb5.conf %s: %v", confPath, err)}
		}
	}
	kt, err := keytab.Load(k.KeytabFile)
	if err != nil {
		return nil, &FieldError{Path: c.at("sasl.kerberos.keytab_file"), Msg: fmt.Sprintf("load keytab: %v", err)}
	}
	name, realm := splitPrincipal(k.Principal)
	if realm == "" {
		realm = cfg.LibDefaults.DefaultRealm
	}
	if realm == "" {
		return nil, &FieldError{Path: c.at("sasl.kerberos.principal"),
			Msg: fmt.Sprintf("%q has no realm and %s has no default_realm: write it as %s@REALM", k.Principal, confPath, k.Principal)}
	}
	pn := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, name)
	found := false
	for _, et := range cfg.LibDefaults.DefaultTktEnctypeIDs {
		if _, _, err := kt.GetEncryptionKey(pn, realm, 0, et); err == nil {
			found = true
			break
		}
	}
	if !found {
		return nil, &FieldError{Path: c.at("sasl.kerberos.keytab_file"),
			Msg: fmt.Sprintf("keytab %s has no key for %s@%s of an encryption type %s allows (default_tkt_enctypes)", k.KeytabFile, name, realm, confPath)}
	}
	return &krbMechanism{name: name, realm: realm, kt: kt, cfg: cfg, confPath: confPath, service: k.ServiceName}, nil
}

// krbMechanism is GSSAPI with a fresh Kerberos login for each
// authentication: one mechanism serves every client of a cluster and
// clients come and go, so no one could own a shared login. The login's
// ticket renewal stops when its authentication ends.
type krbMechanism struct {
	name, realm string
	kt          *keytab.Keytab
	cfg         *krbconfig.Config
	confPath    string
	service     string
}

func (*krbMechanism) Name() string { return mechGSSAPI }

// Authenticate logs in to the KDC with the keytab, gets a ticket for
// <service>/<broker host> and returns franz-go's GSSAPI session.
func (m *krbMechanism) Authenticate(ctx context.Context, host string) (sasl.Session, []byte, error) {
	cl := client.NewWithKeytab(m.name, m.realm, m.kt, m.cfg, client.DisablePAFXFAST(true))
	inner := kerberos.Auth{Client: cl, Service: m.service, PersistAfterAuth: true}.AsMechanism()
	sess, first, err := inner.Authenticate(ctx, host)
	if err != nil {
		cl.Destroy()
		return nil, nil, fmt.Errorf("kerberos login as %s@%s for %s/%s (KDCs from %s): %w", m.name, m.realm, m.service, hostOnly(host), m.confPath, err)
	}
	s := &krbSession{Session: sess, cl: cl}
	// An abandoned handshake still ends the login when the session is
	// collected.
	runtime.AddCleanup(s, func(cl *client.Client) { cl.Destroy() }, cl)
	return s, first, nil
}

// krbSession ends its Kerberos login when the handshake is over.
type krbSession struct {
	sasl.Session
	cl   *client.Client
	once sync.Once
}

func (s *krbSession) Challenge(resp []byte) (bool, []byte, error) {
	done, out, err := s.Session.Challenge(resp)
	if done || err != nil {
		s.once.Do(s.cl.Destroy)
	}
	return done, out, err
}

// hostOnly strips the port of host:port.
func hostOnly(hostport string) string {
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.Contains(hostport[i:], "]") {
		return hostport[:i]
	}
	return hostport
}

// kerberos checks the GSSAPI settings of c.
func (v *validator) kerberos(c *Cluster) {
	k := c.SASL.Kerberos
	if k == nil {
		v.add(c.at("sasl.kerberos"), "required by GSSAPI: give service_name, principal and keytab_file")
		return
	}
	if k.ServiceName == "" {
		v.add(c.at("sasl.kerberos.service_name"), "required: the primary of the brokers' principal, usually kafka (sasl.kerberos.service.name)")
	}
	if name, _ := splitPrincipal(k.Principal); name == "" {
		v.add(c.at("sasl.kerberos.principal"), "required: mm2go's principal, name@REALM")
	}
	if k.KeytabFile == "" {
		v.add(c.at("sasl.kerberos.keytab_file"), "required: the keytab holding the principal's keys")
	}
}

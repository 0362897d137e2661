package flows

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
	"software.sslmate.com/src/go-pkcs12"
)

// Java key and trust stores (JKS and PKCS12) and inline PEM, beside the
// PEM files of client.go. Java's JKS and PKCS12 key stores each read both
// formats, so the type only picks between them and PEM; the file's
// content decides how it is read.

// Store types.
const (
	storeJKS    = "JKS"
	storePKCS12 = "PKCS12"
	storePEM    = "PEM"
)

// Magic numbers at the start of Java key store files.
const (
	magicJKS   = 0xFEEDFEED
	magicJCEKS = 0xCECECECE
)

// storeType returns the upper-case store type, JKS if empty (Java's
// default), and an error for a type mm2go cannot read.
func storeType(t string) (string, error) {
	switch u := strings.ToUpper(strings.TrimSpace(t)); u {
	case "":
		return storeJKS, nil
	case storeJKS, storePKCS12, storePEM:
		return u, nil
	default:
		return "", fmt.Errorf("store type %s is not supported; use JKS, PKCS12 or PEM", strings.TrimSpace(t))
	}
}

// readStore reads a JKS or PKCS12 file and says which it is.
func readStore(path string) (data []byte, format string, err error) {
	data, err = os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("read store: %w", err)
	}
	if len(data) >= 4 {
		switch binary.BigEndian.Uint32(data) {
		case magicJKS:
			return data, storeJKS, nil
		case magicJCEKS:
			return nil, "", fmt.Errorf("%s is a JCEKS store, which mm2go cannot read; convert it (keytool -importkeystore -srckeystore %s -srcstoretype JCEKS -destkeystore store.p12 -deststoretype PKCS12)", path, path)
		}
	}
	if len(data) > 0 && data[0] == 0x30 { // a DER SEQUENCE: PKCS#12
		return data, storePKCS12, nil
	}
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		return nil, "", fmt.Errorf("%s is a PEM file; set its type to PEM", path)
	}
	return nil, "", fmt.Errorf("%s is neither a JKS nor a PKCS12 store", path)
}

// loadTrustStore returns the trusted certificates of a JKS or PKCS12
// trust store.
func loadTrustStore(path, password string) ([]*x509.Certificate, error) {
	data, format, err := readStore(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	switch format {
	case storeJKS:
		if password == "" {
			return nil, errors.New("a JKS trust store needs its password (ssl.truststore.password): mm2go checks the store's integrity with it")
		}
		ks := keystore.New()
		if err := ks.Load(bytes.NewReader(data), []byte(password)); err != nil {
			return nil, fmt.Errorf("load JKS trust store %s: %w (wrong password?)", path, err)
		}
		for _, alias := range ks.Aliases() {
			if !ks.IsTrustedCertificateEntry(alias) {
				continue
			}
			e, err := ks.GetTrustedCertificateEntry(alias)
			if err != nil {
				return nil, fmt.Errorf("read entry %s of %s: %w", alias, path, err)
			}
			c, err := x509.ParseCertificate(e.Certificate.Content)
			if err != nil {
				return nil, fmt.Errorf("parse certificate %s of %s: %w", alias, path, err)
			}
			certs = append(certs, c)
		}
	case storePKCS12:
		certs, err = pkcs12.DecodeTrustStore(data, password)
		if err != nil {
			return nil, fmt.Errorf("load PKCS12 trust store %s: %w", path, err)
		}
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("trust store %s has no trusted certificates", path)
	}
	return certs, nil
}

// loadKeyStore returns the client certificate of a JKS or PKCS12 key
// store: its one private key entry with the entry's chain. keyPassword
// decrypts a JKS key entry; empty means the store password, as in Kafka.
func loadKeyStore(path, password, keyPassword string) (tls.Certificate, error) {
	data, format, err := readStore(path)
	if err != nil {
		return tls.Certificate{}, err
	}
	if password == "" {
		return tls.Certificate{}, errors.New("a key store needs its password (ssl.keystore.password)")
	}
	var key crypto.PrivateKey
	var chain []*x509.Certificate
	switch format {
	case storeJKS:
		ks := keystore.New()
		if err := ks.Load(bytes.NewReader(data), []byte(password)); err != nil {
			return tls.Certificate{}, fmt.Errorf("load JKS key store %s: %w (wrong password?)", path, err)
		}
		var aliases []string
		for _, a := range ks.Aliases() {
			if ks.IsPrivateKeyEntry(a) {
				aliases = append(aliases, a)
			}
		}
		if len(aliases) != 1 {
			return tls.Certificate{}, fmt.Errorf("key store %s has %d private key entries; mm2go needs exactly one", path, len(aliases))
		}
		kp := keyPassword
		if kp == "" {
			kp = password
		}
		e, err := ks.GetPrivateKeyEntry(aliases[0], []byte(kp))
		if err != nil {
			return tls.Certificate{}, &keyError{fmt.Errorf("decrypt key %s of %s: %w (wrong ssl.key.password?)", aliases[0], path, err)}
		}
		if key, err = x509.ParsePKCS8PrivateKey(e.PrivateKey); err != nil {
			return tls.Certificate{}, &keyError{fmt.Errorf("parse key %s of %s: %w", aliases[0], path, err)}
		}
		for _, c := range e.CertificateChain {
			cert, err := x509.ParseCertificate(c.Content)
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("parse certificate chain of %s in %s: %w", aliases[0], path, err)
			}
			chain = append(chain, cert)
		}
	case storePKCS12:
		k, leaf, cas, err := pkcs12.DecodeChain(data, password)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("load PKCS12 key store %s: %w", path, err)
		}
		key, chain = k, append([]*x509.Certificate{leaf}, cas...)
	}
	if len(chain) == 0 {
		return tls.Certificate{}, fmt.Errorf("key store %s has a key without a certificate", path)
	}
	return makeCert(key, chain)
}

// makeCert builds a tls.Certificate and checks that the key fits the
// leaf certificate.
func makeCert(key crypto.PrivateKey, chain []*x509.Certificate) (tls.Certificate, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, &keyError{fmt.Errorf("encode private key: %w", err)}
	}
	var certPEM []byte
	for _, c := range chain {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load client certificate: %w", err)
	}
	return cert, nil
}

// loosePEM matches PEM blocks whose line breaks may have become spaces,
// as in a .properties value continued over lines with "\".
var loosePEM = regexp.MustCompile(`(?s)-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)-----`)

// parseLoosePEM decodes the PEM blocks of an inline value, as Kafka's PEM
// parser does: line breaks are optional and headers are not allowed.
func parseLoosePEM(s string) ([]*pem.Block, error) {
	var out []*pem.Block
	for _, m := range loosePEM.FindAllStringSubmatch(s, -1) {
		if m[1] != m[3] {
			return nil, fmt.Errorf("PEM block BEGIN %s ends with END %s", m[1], m[3])
		}
		b64 := strings.Join(strings.Fields(m[2]), "")
		der, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("PEM block %s is not base64", m[1])
		}
		out = append(out, &pem.Block{Type: m[1], Bytes: der})
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM block (-----BEGIN ...-----)")
	}
	return out, nil
}

// inlineCert builds the client certificate from inline PEM: a chain and a
// private key, encrypted PKCS#8 if keyPassword is set.
func inlineCert(chainPEM, keyPEM, keyPassword string) (tls.Certificate, error) {
	blocks, err := parseLoosePEM(chainPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate chain: %w", err)
	}
	var chain []*x509.Certificate
	for _, b := range blocks {
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("certificate chain: %w", err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return tls.Certificate{}, errors.New("certificate chain: no CERTIFICATE block")
	}
	// Errors about the key never quote it.
	keys, err := parseLoosePEM(keyPEM)
	if err != nil || len(keys) != 1 {
		return tls.Certificate{}, &keyError{errors.New("private key: want one PEM block, PRIVATE KEY or ENCRYPTED PRIVATE KEY")}
	}
	der := keys[0].Bytes
	switch keys[0].Type {
	case "ENCRYPTED PRIVATE KEY":
		if keyPassword == "" {
			return tls.Certificate{}, &keyError{errors.New("private key is encrypted; set the key password (ssl.key.password)")}
		}
		if der, err = decryptPKCS8(der, keyPassword); err != nil {
			return tls.Certificate{}, &keyError{fmt.Errorf("decrypt private key: %w", err)}
		}
	case "PRIVATE KEY":
		if keyPassword != "" {
			return tls.Certificate{}, &keyError{errors.New("key password set, but the private key is not encrypted")}
		}
	default:
		return tls.Certificate{}, &keyError{fmt.Errorf("private key: PEM block %s; want PRIVATE KEY or ENCRYPTED PRIVATE KEY (PKCS#8), as Kafka does", keys[0].Type)}
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return tls.Certificate{}, &keyError{errors.New("private key: not a PKCS#8 key")}
	}
	return makeCert(key, chain)
}

// addStores adds what the Java stores and inline PEM of t hold to cfg:
// trusted certificates to cfg.RootCAs (with those of CAFile), and the
// client certificate. Errors name the fields.
func (c *Cluster) addStores(t *TLS, cfg *tls.Config) []error {
	var errs []error
	addRoots := func(certs []*x509.Certificate) {
		if cfg.RootCAs == nil {
			cfg.RootCAs = x509.NewCertPool()
		}
		for _, cert := range certs {
			cfg.RootCAs.AddCert(cert)
		}
	}
	if t.CAPEM != "" {
		blocks, err := parseLoosePEM(t.CAPEM)
		var certs []*x509.Certificate
		for _, b := range blocks {
			if b.Type != "CERTIFICATE" {
				continue
			}
			cert, perr := x509.ParseCertificate(b.Bytes)
			if perr != nil {
				err = perr
				break
			}
			certs = append(certs, cert)
		}
		if err == nil && len(certs) == 0 {
			err = errors.New("no CERTIFICATE block")
		}
		if err != nil {
			errs = append(errs, &FieldError{Path: c.at("tls.ca_pem"), Msg: fmt.Sprintf("inline trusted certificates: %v", err)})
		} else {
			addRoots(certs)
		}
	}
	if t.TruststoreFile != "" {
		certs, err := loadTrustStore(t.TruststoreFile, t.TruststorePassword)
		if err != nil {
			errs = append(errs, &FieldError{Path: c.at("tls.truststore_file"), Msg: err.Error()})
		} else {
			addRoots(certs)
		}
	}
	var cert tls.Certificate
	var err error
	var field string
	switch {
	case t.KeystoreFile != "":
		field = "tls.keystore_file"
		cert, err = loadKeyStore(t.KeystoreFile, t.KeystorePassword, t.KeyPassword)
	case t.CertPEM != "" || t.KeyPEM != "":
		field = "tls.cert_pem"
		cert, err = inlineCert(t.CertPEM, t.KeyPEM, t.KeyPassword)
	default:
		return errs
	}
	if err != nil {
		var ke *keyError
		if errors.As(err, &ke) && field == "tls.cert_pem" {
			field = "tls.key_pem"
		}
		errs = append(errs, &FieldError{Path: c.at(field), Msg: err.Error()})
	} else {
		cfg.Certificates = []tls.Certificate{cert}
	}
	return errs
}

// tlsStores checks the store settings of c's TLS: one source of client
// certificate, store types mm2go reads, and the passwords stores need.
func (v *validator) tlsStores(c *Cluster) {
	t := c.TLS
	sources := 0
	for _, set := range []bool{t.CertFile != "" || t.KeyFile != "", t.CertPEM != "" || t.KeyPEM != "", t.KeystoreFile != ""} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		v.add(c.at("tls"), "more than one client certificate: give cert_file and key_file, cert_pem and key_pem, or keystore_file")
	}
	if t.CertPEM != "" && t.KeyPEM == "" {
		v.add(c.at("tls.cert_pem"), "set without a private key (tls.key_pem)")
	}
	if t.KeyPEM != "" && t.CertPEM == "" {
		v.add(c.at("tls.key_pem"), "set without a certificate chain (tls.cert_pem)")
	}
	for _, s := range []struct{ file, typ, password, name string }{
		{t.TruststoreFile, t.TruststoreType, t.TruststorePassword, "truststore"},
		{t.KeystoreFile, t.KeystoreType, t.KeystorePassword, "keystore"},
	} {
		typ, err := storeType(s.typ)
		switch {
		case err != nil:
			v.add(c.at("tls."+s.name+"_type"), "%v", err)
		case typ == storePEM && s.file != "":
			hint := "ca_file"
			if s.name == "keystore" {
				hint = "cert_file and key_file"
			}
			v.add(c.at("tls."+s.name+"_type"), "PEM files go in tls.%s", hint)
		case s.file == "" && (s.typ != "" || s.password != ""):
			v.add(c.at("tls."+s.name+"_file"), "required by tls.%s_type and tls.%s_password", s.name, s.name)
		}
	}
	if t.KeystoreFile != "" && t.KeystorePassword == "" {
		v.add(c.at("tls.keystore_password"), "required by tls.keystore_file (ssl.keystore.password)")
	}
	if t.KeyPassword != "" && t.KeyFile == "" && t.KeyPEM == "" && t.KeystoreFile == "" {
		v.add(c.at("tls.key_password"), "set without a private key (tls.key_file, tls.key_pem or tls.keystore_file)")
	}
}

// Package ldaptest starts a real OpenLDAP server (Debian's slapd) for tests, on loopback,
// with a generated configuration, a certificate of its own and the entries of an LDIF.
package ldaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/proctest"
)

// Base is the suffix of the test directory; Admin and AdminPassword its root account.
const (
	Base          = "dc=berth,dc=test"
	Admin         = "cn=admin," + Base
	AdminPassword = "root secret"
)

// Server is a slapd process started for a test.
type Server struct {
	// URL is ldap://127.0.0.1:PORT (StartTLS offered), TLSURL ldaps://localhost:PORT.
	URL, TLSURL string
	// CAFile holds the PEM certificate that signed the server's; its name is localhost.
	CAFile string
	// Cmd is the running process, for tests that pause or stop it.
	Cmd *exec.Cmd

	exited chan struct{}
	once   sync.Once
}

// Kill stops the server and waits for it to exit; later calls do nothing.
func (s *Server) Kill(t testing.TB) {
	s.once.Do(func() {
		if err := s.Cmd.Process.Kill(); err != nil {
			t.Logf("kill slapd: %v", err)
		}
		<-s.exited
	})
}

// schema adds the attributes directories use to disable accounts (389 Directory Server's
// nsAccountLock, Active Directory's userAccountControl) to OpenLDAP, through an auxiliary
// class tests may give any person.
const schema = `attributetype ( 2.16.840.1.113730.3.1.610 NAME 'nsAccountLock'
	EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
	EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.99.1 NAME 'berthTestAccount' AUXILIARY
	MAY ( nsAccountLock $ userAccountControl ) )
`

// Start runs slapd on free loopback ports over a fresh database holding ldif's entries
// (under Base; the Base entry itself is made here) and stops it when the test ends.
// Without slapd the test is skipped, unless BERTH_E2E=1 demands every test run.
func Start(t testing.TB, ldif string) *Server {
	t.Helper()
	bin, err := exec.LookPath("slapd")
	if err != nil {
		bin = "/usr/sbin/slapd"
		if _, statErr := os.Stat(bin); statErr != nil {
			if os.Getenv("BERTH_E2E") == "1" {
				t.Fatalf("slapd not found, and BERTH_E2E=1 requires it (apt-get install slapd): %v", err)
			}
			t.Skipf("slapd not found (apt-get install slapd, or set BERTH_E2E=1 to fail instead): %v", err)
		}
	}
	dir := t.TempDir()
	conf := configure(t, dir)
	data := "dn: " + Base + "\nobjectClass: dcObject\nobjectClass: organization\ndc: berth\no: Berth\n\n" + ldif
	if err := os.WriteFile(filepath.Join(dir, "data.ldif"), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(filepath.Join(filepath.Dir(bin), "slapadd"), "-f", conf, "-l", filepath.Join(dir, "data.ldif")).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	// The ports are free when picked but may be taken before slapd binds them; retry.
	var lastErr error
	for range 3 {
		s, err := tryStart(t, bin, conf)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("start slapd: %v", lastErr)
	return nil
}

// configure writes slapd.conf, the schema and the certificates into dir.
func configure(t testing.TB, dir string) string {
	t.Helper()
	ca, cert, key := Certificates(t)
	files := map[string]string{"ca.pem": ca, "cert.pem": cert, "key.pem": key, "berth.schema": schema}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, s := range []string{"core", "cosine", "inetorgperson"} {
		fmt.Fprintf(&b, "include /etc/ldap/schema/%s.schema\n", s)
	}
	fmt.Fprintf(&b, "include %s/berth.schema\npidfile %[1]s/slapd.pid\nargsfile %[1]s/slapd.args\n", dir)
	fmt.Fprintf(&b, "TLSCACertificateFile %s/ca.pem\nTLSCertificateFile %[1]s/cert.pem\nTLSCertificateKeyFile %[1]s/key.pem\n", dir)
	b.WriteString("modulepath /usr/lib/ldap\nmoduleload back_mdb\n")
	fmt.Fprintf(&b, "database mdb\nmaxsize 16777216\nsuffix %q\nrootdn %q\nrootpw %q\ndirectory %s/db\n", Base, Admin, AdminPassword, dir)
	// Passwords are only for binding; everyone bound may read the rest.
	b.WriteString("access to attrs=userPassword by anonymous auth by * none\naccess to * by users read by * none\n")
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}

func tryStart(t testing.TB, bin, conf string) (*Server, error) {
	ports := make([]int, 2)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a port: %w", err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
	}
	plain := "ldap://127.0.0.1:" + strconv.Itoa(ports[0])
	secure := "ldaps://127.0.0.1:" + strconv.Itoa(ports[1])
	var out lockedBuffer
	// -d keeps slapd in the foreground (a child of the test), logging nothing but errors.
	cmd := exec.Command(bin, "-d", "0", "-f", conf, "-h", plain+"/ "+secure+"/")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	s := &Server{URL: plain, TLSURL: "ldaps://localhost:" + strconv.Itoa(ports[1]), CAFile: filepath.Join(filepath.Dir(conf), "ca.pem"),
		Cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.Kill(t) })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		// slapd itself listens: a port picked free may have been taken by another process
		// (another test's server), which would answer in its place.
		if proctest.Listens(cmd.Process.Pid, ports[0]) && proctest.Listens(cmd.Process.Pid, ports[1]) && answers(ports[0]) {
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("slapd on ports %v exited:\n%s", ports, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.Kill(t)
	return nil, fmt.Errorf("slapd on ports %v did not listen within 30s:\n%s", ports, out.String())
}

func answers(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err == nil {
		_ = c.Close()
	}
	return err == nil
}

// Certificates makes a CA and a certificate for localhost and 127.0.0.1 signed by it, PEM.
func Certificates(t testing.TB) (ca, cert, key string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Berth test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(kind string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}))
	}
	return enc("CERTIFICATE", caDER), enc("CERTIFICATE", srvDER), enc("PRIVATE KEY", keyDER)
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

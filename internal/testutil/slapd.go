package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Slapd is an OpenLDAP server a test started on loopback, with TLS from a
// CA made for it, the memberof overlay (Active Directory style memberOf
// attributes) and the entries of DirectoryLDIF.
type Slapd struct {
	// Host is the address to connect to; the certificate names it.
	Host string
	// Port serves plain LDAP and StartTLS; TLSPort serves LDAPS.
	Port, TLSPort int
	// CAFile is the PEM file of the CA that signed the server's certificate.
	CAFile string
	// BaseDN is the directory's suffix.
	BaseDN string
	// AdminDN and AdminPassword are the directory manager.
	AdminDN, AdminPassword string
}

// The test directory's accounts. Passwords are given in plain text in the
// directory, which slapd compares on bind.
const (
	SlapdBase          = "dc=example,dc=org"
	SlapdSearchDN      = "cn=search,dc=example,dc=org"
	SlapdSearchPass    = "search-secret"
	SlapdAlicePass     = "alice-password-1"
	SlapdBobPass       = "Pässwörd-ü€-bob" // non-ASCII
	SlapdDoeDN         = `cn=Doe\, John,ou=people,dc=example,dc=org`
	SlapdDoePass       = "doe-password-1"
	SlapdCarolPass     = "carol-password-1"
	SlapdDavePass      = "dave-password-1"
	SlapdStudentsGroup = "cn=students,ou=groups,dc=example,dc=org" // groupOfNames: alice, John Doe
	SlapdStaffGroup    = "cn=staff,ou=groups,dc=example,dc=org"    // groupOfUniqueNames: bob
	SlapdPosixGroup    = "cn=posix,ou=groups,dc=example,dc=org"    // posixGroup: memberUid dave
	// SlapdHiddenGroup lists alice, but only the manager may read it: a
	// member is found only through alice's memberOf, as in Active Directory.
	SlapdHiddenGroup = "cn=ad-users,ou=hidden,dc=example,dc=org"
)

// DirectoryLDIF is the test directory: people alice, bob (non-ASCII
// password), "Doe, John" (uid jdoe, a DN with a comma), carol (in no
// group), dave (posix group only), the search account and the groups
// above.
var DirectoryLDIF = strings.ReplaceAll(`dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: cn=search,dc=example,dc=org
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: search
userPassword: search-secret

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=org
objectClass: organizationalUnit
ou: groups

dn: ou=hidden,dc=example,dc=org
objectClass: organizationalUnit
ou: hidden

dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: alice
cn: Alice Example
sn: Example
mail: alice@example.org
userPassword: alice-password-1

dn: uid=bob,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: bob
cn: Bob Example
sn: Example
mail: bob@example.org
userPassword:: BOBPASS

dn: cn=Doe\, John,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: jdoe
cn: Doe, John
sn: Doe
mail: jdoe@example.org
userPassword: doe-password-1

dn: uid=carol,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: carol
cn: Carol Example
sn: Example
userPassword: carol-password-1

dn: uid=dave,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: dave
cn: Dave Example
sn: Example
userPassword: dave-password-1

dn: cn=students,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: students
member: uid=alice,ou=people,dc=example,dc=org
member: cn=Doe\, John,ou=people,dc=example,dc=org

dn: cn=staff,ou=groups,dc=example,dc=org
objectClass: groupOfUniqueNames
cn: staff
uniqueMember: uid=bob,ou=people,dc=example,dc=org

dn: cn=posix,ou=groups,dc=example,dc=org
objectClass: posixGroup
cn: posix
gidNumber: 5000
memberUid: dave

dn: cn=ad-users,ou=hidden,dc=example,dc=org
objectClass: groupOfNames
cn: ad-users
member: uid=alice,ou=people,dc=example,dc=org
`, "BOBPASS", b64(SlapdBobPass))

const slapdConf = `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {dir}/slapd.pid
TLSCACertificateFile {dir}/ca.pem
TLSCertificateFile {dir}/server.pem
TLSCertificateKeyFile {dir}/server.key

database mdb
suffix "dc=example,dc=org"
rootdn "cn=admin,dc=example,dc=org"
rootpw admin-secret
directory {dir}/db
maxsize 10485760
access to attrs=userPassword by self read by anonymous auth by * none
access to dn.subtree="ou=hidden,dc=example,dc=org" by * none
access to * by * read

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint true
`

// StartSlapd starts slapd (Debian's /usr/sbin/slapd) for the test and loads
// DirectoryLDIF through ldapadd, so the memberof overlay fills memberOf.
// The server stops when the test ends.
func StartSlapd(t testing.TB) *Slapd {
	t.Helper()
	slapd := "/usr/sbin/slapd"
	if _, err := os.Stat(slapd); err != nil {
		slapd = LookPath(t, "slapd")
	}
	ldapadd := LookPath(t, "ldapadd")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeTestPKI(t, dir, "127.0.0.1")
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(strings.ReplaceAll(slapdConf, "{dir}", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Slapd{Host: "127.0.0.1", Port: freePort(t), TLSPort: freePort(t), CAFile: filepath.Join(dir, "ca.pem"),
		BaseDN: SlapdBase, AdminDN: "cn=admin," + SlapdBase, AdminPassword: "admin-secret"}
	urls := fmt.Sprintf("ldap://%s:%d/ ldaps://%s:%d/", s.Host, s.Port, s.Host, s.TLSPort)
	// -d 0 keeps slapd in the foreground, so the test owns the process.
	cmd := exec.Command(slapd, "-f", conf, "-h", urls, "-d", "0")
	var logBuf strings.Builder
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start slapd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(s.Host, fmt.Sprint(s.Port)), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slapd did not start: %v\n%s", err, logBuf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	ldif := filepath.Join(dir, "data.ldif")
	if err := os.WriteFile(ldif, []byte(DirectoryLDIF), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ldapadd, "-x", "-H", fmt.Sprintf("ldap://%s:%d", s.Host, s.Port),
		"-D", s.AdminDN, "-w", s.AdminPassword, "-f", ldif).CombinedOutput()
	if err != nil {
		t.Fatalf("load test directory: %v\n%s\n%s", err, out, logBuf.String())
	}
	return s
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// writeTestPKI writes ca.pem, server.pem and server.key into dir: a CA made
// for this test and a server certificate for host signed by it.
func writeTestPKI(t testing.TB, dir, host string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Labhub test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, blk := range map[string]*pem.Block{
		"ca.pem":     {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem": {Type: "CERTIFICATE", Bytes: der},
		"server.key": {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

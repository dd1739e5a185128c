package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

var tls12Config = tls.Config{MinVersion: tls.VersionTLS12}

// selfSignedTLS returns a server config with a fresh self-signed certificate
// for 127.0.0.1.
func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	cfg, _ := selfSigned(t)
	return cfg
}

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "clawfleet test broker"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}, pool
}

func TestTLSListener(t *testing.T) {
	serverCfg, pool := selfSigned(t)
	e := startEnv(t, func(o *Options) {
		o.TCPAddr = ""
		o.TLSAddr = "127.0.0.1:0"
		o.TLSConfig = serverCfg
	})
	if e.b.Addr() != nil {
		t.Errorf("Addr() = %v with no plain listener", e.b.Addr())
	}
	addr := e.b.TLSAddr()
	if addr == nil || addr.(*net.TCPAddr).Port == 0 {
		t.Fatalf("TLSAddr() = %v", addr)
	}
	a := devID(1)
	opts := func(rootCAs *x509.CertPool) *paho.ClientOptions {
		return paho.NewClientOptions().
			AddBroker("ssl://" + addr.String()).
			SetClientID(a).SetUsername(a).SetPassword(secretOf(a)).
			SetProtocolVersion(4).SetAutoReconnect(false).
			SetConnectTimeout(3 * time.Second).
			SetTLSConfig(&tls.Config{RootCAs: rootCAs, MinVersion: tls.VersionTLS12})
	}

	// A client that does not trust the certificate fails the handshake.
	if _, err := connect(t, opts(x509.NewCertPool())); err == nil {
		t.Fatal("TLS connect with an untrusted certificate succeeded")
	}
	// Plain MQTT on the TLS port is not understood.
	plain := paho.NewClientOptions().AddBroker("tcp://" + addr.String()).
		SetClientID(a).SetUsername(a).SetPassword(secretOf(a)).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(3 * time.Second)
	if _, err := connect(t, plain); err == nil {
		t.Fatal("plain MQTT connect on the TLS port succeeded")
	}

	cloud := newRecorder()
	if err := e.b.Subscribe(proto.CloudFilter, cloud.inline); err != nil {
		t.Fatal(err)
	}
	c, err := connect(t, opts(pool))
	if err != nil {
		t.Fatalf("TLS connect: %v", err)
	}
	topic := proto.UpTopic(a, proto.KindRegister)
	if tok := c.Publish(topic, 1, false, "hello over tls"); !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	if m := cloud.next(t, "message over TLS"); m.topic != topic || m.payload != "hello over tls" {
		t.Fatalf("got %q %q", m.topic, m.payload)
	}
}

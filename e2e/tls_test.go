package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
)

// selfSigned writes a certificate for 127.0.0.1 and returns its files and
// a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "assent test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeOverTLSEnrollsAndPushesOverWSS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	cfg := server.DefaultConfig()
	cfg.Listen, cfg.Data, cfg.TLSCert, cfg.TLSKey = "127.0.0.1:0", filepath.Join(dir, "data"), certFile, keyFile
	cfg.OpsListen = "off" // tests run side by side; the operator listener is tested on its own
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- server.Serve(ctx, cfg, log, func(u string) { ready <- u }) }()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	if url[:8] != "https://" {
		t.Fatalf("public URL %q is not https", url)
	}

	// An administrator's command opens the same data folder meanwhile.
	_, port, _ := net.SplitHostPort(url[len("https://"):])
	admin, err := server.Open(ctx, cfg, "127.0.0.1:"+port, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AddApp(ctx, "cli-test", "embedded"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AddUser(ctx, server.NewUser{Login: "tess", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	link, err := admin.NewEnrollLink(ctx, "tess")
	if err != nil {
		t.Fatal(err)
	}
	admin.Shutdown()

	httpc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	d, err := core.Open(core.Options{Home: filepath.Join(dir, "home"), KeyStore: core.KeyStoreFile, HTTP: httpc,
		Passphrase: func() ([]byte, error) { return []byte("pw"), nil }, FileKDF: cheapArgon2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Enroll(ctx, link); err != nil {
		t.Fatal(err)
	}
	prompts := make(chan core.Prompt, 1)
	lctx, lcancel := context.WithCancel(ctx)
	defer lcancel()
	go d.Listen(lctx, core.Events{Prompt: func(p core.Prompt) { prompts <- p }})

	api := sdk.New(url)
	api.HTTP = httpc
	tx, number := cliPush(t, api, "tess")
	p := recv(t, prompts)
	if _, err := d.Approve(ctx, p, number); err != nil {
		t.Fatal(err)
	}
	if r, err := tx.Do(ctx, "challenge-poll", sdk.Request{}); err != nil || r.Status != "success" {
		t.Fatalf("poll = %+v, %v", r, err)
	}
	// Plain HTTP on the TLS port gets nowhere.
	if resp, err := http.Get("http://127.0.0.1:" + port + "/v1/server"); err == nil {
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was served on the TLS port")
		}
		resp.Body.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v on shutdown", err)
	}
}

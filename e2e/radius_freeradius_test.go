package e2e

// FreeRADIUS proxying to Assent, configured with the snippets of
// docs/integrations/freeradius.md applied to Debian's stock configuration:
// radclient → FreeRADIUS (a client without a Message-Authenticator) →
// assentd, with a real device approving the push.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const stockRaddb = "/etc/freeradius/3.0"

// freePorts finds n free UDP ports on loopback.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	var conns []net.PacketConn
	for range n {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		out = append(out, c.LocalAddr().(*net.UDPAddr).Port)
	}
	for _, c := range conns {
		c.Close()
	}
	return out
}

func TestRADIUSFreeRADIUSGuideProxy(t *testing.T) {
	freeradius, err := exec.LookPath("freeradius")
	if err != nil {
		t.Fatal("FreeRADIUS is not installed: apt-get install -y freeradius (the RADIUS guides' proxy is tested with it)")
	}
	e, r := newRADIUSEnv(t, vpnPlainPush, radiusClient{name: "vpn", networks: []string{"127.0.0.1"}})
	_, d, _ := e.enrolled("alice")
	assentPort := r.Addr().(*net.UDPAddr).Port

	// Debian's stock configuration, copied, with the guide's snippets.
	dir := filepath.Join(t.TempDir(), "raddb")
	if out, err := exec.Command("cp", "-a", stockRaddb, dir).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v\n%s", stockRaddb, err, out)
	}
	edit := func(name string, f func(string) string) {
		t.Helper()
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f(string(b))), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	insertAfter := func(s, anchor, text string) string {
		i := strings.Index(s, anchor)
		if i < 0 {
			t.Fatalf("no %q to insert after", anchor)
		}
		i += len(anchor)
		return s[:i] + "\n" + text + s[i:]
	}
	proxy := guideBlock(t, "freeradius.md", "<!-- proxy.conf -->")
	proxy = strings.NewReplacer("192.0.2.20", "127.0.0.1", "port = 1812", fmt.Sprintf("port = %d", assentPort),
		"…the shared secret…", radiusSecret).Replace(proxy)
	edit("proxy.conf", func(s string) string { return s + "\n" + proxy })
	nasSecret := "a secret for the VPN server only"
	client := strings.NewReplacer("192.0.2.10", "127.0.0.2", "…another shared secret…", nasSecret).
		Replace(guideBlock(t, "freeradius.md", "<!-- clients.conf -->"))
	edit("clients.conf", func(s string) string { return s + "\n" + client })
	edit("radiusd.conf", func(s string) string {
		s = strings.Replace(s, "max_request_time = 30", strings.TrimSpace(guideBlock(t, "freeradius.md", "<!-- radiusd.conf -->")), 1)
		// The test's own: no switch to the freerad user, a run directory
		// of its own.
		s = strings.Replace(s, "\tuser = freerad", "\t#user = freerad", 1)
		s = strings.Replace(s, "\tgroup = freerad", "\t#group = freerad", 1)
		return strings.Replace(s, "run_dir = ${localstatedir}/run/${name}", "run_dir = "+dir, 1)
	})
	ports := freePorts(t, 5)
	edit("sites-enabled/default", func(s string) string {
		s = insertAfter(s, "\nauthorize {", guideBlock(t, "freeradius.md", "<!-- authorize -->"))
		s = insertAfter(s, "\npre-proxy {", guideBlock(t, "freeradius.md", "<!-- pre-proxy -->"))
		for i := range 4 {
			s = strings.Replace(s, "\tport = 0\n", fmt.Sprintf("\tport = %d\n", ports[i]), 1)
		}
		return strings.ReplaceAll(s, "ipaddr = *", "ipaddr = 127.0.0.1")
	})
	edit("sites-enabled/inner-tunnel", func(s string) string {
		return strings.Replace(s, "port = 18120", fmt.Sprintf("port = %d", ports[4]), 1)
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fr := exec.CommandContext(ctx, freeradius, "-f", "-l", "stdout", "-d", dir)
	stdout, _ := fr.StdoutPipe()
	fr.Stderr = fr.Stdout
	if err := fr.Start(); err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var log strings.Builder
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if strings.Contains(sc.Text(), "Ready to process requests") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		fr.Wait()
		if t.Failed() {
			logMu.Lock()
			t.Logf("FreeRADIUS said:\n%s", log.String())
			logMu.Unlock()
		}
	})
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatal("FreeRADIUS did not start")
	}

	// The VPN server sends no Message-Authenticator, from 127.0.0.2.
	frAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	var out string
	var wg sync.WaitGroup
	wg.Go(func() {
		out = radclientRun(t, frAddr, nasSecret,
			`User-Name = "alice", User-Password = "correct horse battery", NAS-Identifier = "vpn-gw1", Calling-Station-Id = "198.51.100.9", Packet-Src-IP-Address = 127.0.0.2`, 70)
	})
	p := e.waitPrompt(d)
	if p.Context.ClientIP != "198.51.100.9" || !strings.Contains(p.Context.UserAgent, "RADIUS vpn-gw1 (127.0.0.1)") {
		t.Fatalf("the push shows %+v", p.Context)
	}
	if _, err := d.Approve(e.ctx, p, 0); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if radclientGot(out) != "Access-Accept" {
		t.Fatalf("through FreeRADIUS, radclient got:\n%s", out)
	}

	// A wrong password: Assent's reason comes back through FreeRADIUS.
	out = radclientRun(t, frAddr, nasSecret,
		`User-Name = "alice", User-Password = "wrong", Packet-Src-IP-Address = 127.0.0.2`, 70)
	if radclientGot(out) != "Access-Reject" || !strings.Contains(out, "login or password is wrong") {
		t.Fatalf("a wrong password through FreeRADIUS got:\n%s", out)
	}
	if st := r.Stats(); st.Dropped["no Message-Authenticator"] != 0 || st.Answered != 2 {
		t.Fatalf("Assent's stats: %+v", st)
	}
}

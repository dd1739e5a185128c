// Package nginxrun runs Debian's nginx with docs/nginx/clawfleet.conf for a
// local cloud: the router's nginx test and the router benchmark share it.
// It renders the shipped file for other addresses and a domain, wraps it in a
// minimal nginx.conf under a private directory, and runs nginx in the
// foreground as a child process.
package nginxrun

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Options say where the rendered config points.
type Options struct {
	// Bin is the nginx executable; empty = "nginx" on PATH, else /usr/sbin/nginx.
	Bin string
	// Conf is the path of docs/nginx/clawfleet.conf.
	Conf string
	// Dir holds the rendered files, logs and temp paths.
	Dir string
	// Domain replaces example.com in server_name (e.g. "localhost").
	Domain string
	// Listen, CloudAddr and UpstreamAddr (host:port) replace port 80, the
	// cloud's 127.0.0.1:8080 and the internal upstream's 127.0.0.1:8081.
	Listen, CloudAddr, UpstreamAddr string
	// Workers is worker_processes ("1" when empty); WorkerConnections is
	// worker_connections (256 when zero).
	Workers           string
	WorkerConnections int
	// NoAccessLog turns the access log off.
	NoAccessLog bool
}

// Find returns the nginx executable, or an error when it is not installed.
func Find(bin string) (string, error) {
	if bin == "" {
		if p, err := exec.LookPath("nginx"); err == nil {
			return p, nil
		}
		bin = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("nginx is not installed (apt-get install nginx): %w", err)
	}
	return bin, nil
}

// Render returns the shipped config with o's domain and addresses. It fails
// when the file no longer contains what it replaces.
func Render(src string, o Options) (string, error) {
	conf := src
	for _, r := range [][2]string{
		{`\.example\.com$`, `\.` + regexp.QuoteMeta(o.Domain) + `$`},
		{"127.0.0.1:8080", o.CloudAddr},
		{"127.0.0.1:8081", o.UpstreamAddr},
		{"listen 80;", "listen " + o.Listen + ";"},
		{"listen [::]:80;", ""},
	} {
		if !strings.Contains(conf, r[0]) {
			return "", fmt.Errorf("docs/nginx/clawfleet.conf no longer contains %q", r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	return conf, nil
}

// Nginx is a running nginx.
type Nginx struct {
	Addr   string
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start renders the config into o.Dir, starts nginx and waits (10 s at most)
// until it accepts connections on o.Listen.
func Start(o Options) (*Nginx, error) {
	bin, err := Find(o.Bin)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(o.Conf)
	if err != nil {
		return nil, err
	}
	conf, err := Render(string(src), o)
	if err != nil {
		return nil, err
	}
	workers, wc := o.Workers, o.WorkerConnections
	if workers == "" {
		workers = "1"
	}
	if wc == 0 {
		wc = 256
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	access := fmt.Sprintf("access_log %s/access.log;", o.Dir)
	if o.NoAccessLog {
		access = "access_log off;"
	}
	main := fmt.Sprintf(`%s
worker_processes %s;
error_log %[3]s/error.log info;
pid %[3]s/nginx.pid;
events { worker_connections %d; }
http {
    %s
    client_body_temp_path %[3]s/body;
    proxy_temp_path %[3]s/proxy;
    fastcgi_temp_path %[3]s/fastcgi;
    uwsgi_temp_path %[3]s/uwsgi;
    scgi_temp_path %[3]s/scgi;
    include %[3]s/clawfleet.conf;
}
`, user, workers, o.Dir, wc, access)
	if err := os.WriteFile(filepath.Join(o.Dir, "clawfleet.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		return nil, err
	}
	out, err := os.Create(filepath.Join(o.Dir, "stderr"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command(bin, "-e", filepath.Join(o.Dir, "error.log"), "-p", o.Dir, "-c", filepath.Join(o.Dir, "nginx.conf"), "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	n := &Nginx{Addr: o.Listen, dir: o.Dir, cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(n.exited) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", o.Listen, time.Second)
		if err == nil {
			c.Close()
			return n, nil
		}
		select {
		case <-n.exited:
			b, _ := os.ReadFile(filepath.Join(o.Dir, "stderr"))
			return nil, fmt.Errorf("nginx exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			n.Stop()
			return nil, errors.New("nginx does not listen on " + o.Listen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop shuts nginx down fast (SIGINT), killing it after 5 s.
func (n *Nginx) Stop() {
	n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.exited:
	case <-time.After(5 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
	}
}

// Logs returns nginx's stderr, error log and access log.
func (n *Nginx) Logs() string {
	var b strings.Builder
	for _, name := range []string{"stderr", "error.log", "access.log"} {
		c, _ := os.ReadFile(filepath.Join(n.dir, name))
		fmt.Fprintf(&b, "nginx %s:\n%s\n", name, c)
	}
	return b.String()
}

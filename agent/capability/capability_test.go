package capability

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// fakeDocker serves handler on a unix socket and returns its path.
func fakeDocker(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cap") // short path: unix socket paths are limited to ~108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "present")
	if err := os.WriteFile(present, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	absent := filepath.Join(dir, "absent")
	ping := fakeDocker(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_ping" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("OK"))
	})
	broken := fakeDocker(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	hang := fakeDocker(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})

	tests := []struct {
		name         string
		d            Detector
		wantDocker   bool
		wantWG       []string
		wantRuntimes []string
	}{
		{"everything", Detector{DockerSocket: ping, WireGuardModule: present, TunDevice: present, IsRoot: func() bool { return true }},
			true, []string{WGKernel, WGTun, WGNetstack}, []string{RuntimeDocker, RuntimeProcess}},
		{"nothing", Detector{DockerSocket: absent, WireGuardModule: absent, TunDevice: absent, IsRoot: func() bool { return true }},
			false, []string{WGNetstack}, []string{RuntimeProcess}},
		{"tun needs root", Detector{DockerSocket: absent, WireGuardModule: absent, TunDevice: present, IsRoot: func() bool { return false }},
			false, []string{WGNetstack}, []string{RuntimeProcess}},
		{"engine error", Detector{DockerSocket: broken, WireGuardModule: present, TunDevice: absent, IsRoot: func() bool { return true }},
			false, []string{WGKernel, WGNetstack}, []string{RuntimeProcess}},
		{"engine hangs", Detector{DockerSocket: hang, DockerTimeout: 200 * time.Millisecond, WireGuardModule: absent, TunDevice: absent, IsRoot: func() bool { return false }},
			false, []string{WGNetstack}, []string{RuntimeProcess}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			c := tt.d.Detect(context.Background())
			if c.Docker != tt.wantDocker || !slices.Equal(c.WireGuardModes, tt.wantWG) || !slices.Equal(c.Runtimes, tt.wantRuntimes) {
				t.Errorf("Detect() = %+v; want docker=%v wg=%v runtimes=%v", c, tt.wantDocker, tt.wantWG, tt.wantRuntimes)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Detect took %v", d)
			}
		})
	}
}

func TestDockerSocketPath(t *testing.T) {
	tests := []struct {
		field, env, want string
	}{
		{"", "", DefaultDockerSocket},
		{"", "unix:///run/user/1000/docker.sock", "/run/user/1000/docker.sock"},
		{"", "tcp://10.0.0.1:2375", DefaultDockerSocket},
		{"/x.sock", "unix:///y.sock", "/x.sock"},
	}
	for _, tt := range tests {
		t.Setenv("DOCKER_HOST", tt.env)
		if got := (Detector{DockerSocket: tt.field}).DockerSocketPath(); got != tt.want {
			t.Errorf("field %q, DOCKER_HOST %q: got %q, want %q", tt.field, tt.env, got, tt.want)
		}
	}
}

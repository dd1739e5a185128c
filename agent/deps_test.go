package agent_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestAgentDeps keeps the agent binary small and free of server-side code:
// no ORM, no HTTP framework, no MQTT broker. Test files may import the broker
// (go list -deps without -test ignores them).
func TestAgentDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	forbidden := []string{"gorm.io", "github.com/gin-gonic", "github.com/mochi-mqtt"}
	for _, target := range []struct{ goos, goarch string }{{"", ""}, {"linux", "arm64"}, {"linux", "arm"}} {
		cmd := exec.Command(goTool, "list", "-deps", "./cmd/clawfleet-agent")
		if target.goos != "" {
			cmd.Env = append(cmd.Environ(), "GOOS="+target.goos, "GOARCH="+target.goarch, "CGO_ENABLED=0")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list (%s/%s): %v\n%s", target.goos, target.goarch, err, out)
		}
		deps := strings.Fields(string(out))
		var sawLink bool
		for _, d := range deps {
			sawLink = sawLink || d == "github.com/clawfleet/clawfleet/agent/link"
			for _, f := range forbidden {
				if d == f || strings.HasPrefix(d, f+"/") || strings.HasPrefix(d, f+".") {
					t.Errorf("%s/%s: the agent depends on %s", target.goos, target.goarch, d)
				}
			}
		}
		if !sawLink {
			t.Fatalf("go list output does not look like the agent's dependencies:\n%s", out)
		}
	}
}

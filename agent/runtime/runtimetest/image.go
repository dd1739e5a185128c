package runtimetest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/clawfleet/clawfleet/agent/runtime/docker/engine"
)

// StandinImage is the test image built by BuildStandinImage.
const StandinImage = "clawfleet/standin:test"

// BuildStandinImage builds tag (e.g. StandinImage) FROM scratch with the
// static stand-in gateway binary at binary as /usr/local/bin/openclaw, user
// 1000:1000 and HOME /home/node, so the docker runtime's default Cmd runs
// it. No registry is involved. It does nothing when tag exists with the
// same binary (label clawfleet.standin-sha256).
func BuildStandinImage(ctx context.Context, c *engine.Client, binary, tag string) error {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(bin)
	hash := hex.EncodeToString(sum[:])
	if labels, ok, err := c.ImageLabels(ctx, tag); err != nil {
		return err
	} else if ok && labels["clawfleet.standin-sha256"] == hash {
		return nil
	}
	dockerfile := fmt.Sprintf(`FROM scratch
COPY openclaw /usr/local/bin/openclaw
ENV PATH=/usr/local/bin HOME=/home/node
USER 1000:1000
EXPOSE 18789
LABEL clawfleet.standin-sha256=%s
CMD ["openclaw", "gateway", "--port", "18789"]
`, hash)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"openclaw", 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return c.BuildImage(ctx, tag, &buf)
}

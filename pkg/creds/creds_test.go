package creds

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func valid() *Credentials {
	return &Credentials{
		DeviceID: NewDeviceID(), Secret: NewSecret(), MQTTURL: "ssl://cloud.example.com:8883",
		CloudURL: "https://cloud.example.com", CACertPEM: "-----BEGIN CERTIFICATE-----\n...",
	}
}

func TestSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, FileName)
	c := valid()
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *c {
		t.Fatalf("loaded %+v, saved %+v", got, c)
	}
	for p, want := range map[string]fs.FileMode{dir: 0o700, path: 0o600} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", p, st.Mode().Perm(), err, want)
		}
	}
	// Saving again replaces the file (and tightens its mode).
	os.Chmod(path, 0o644)
	c.Secret = NewSecret()
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	if got, _ := Load(path); got.Secret != c.Secret {
		t.Fatal("second Save not loaded")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode after a second Save: %v", st.Mode())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("state dir holds %v", ents)
	}
}

func TestSaveRejectsInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	c := valid()
	c.Secret = "short"
	if err := Save(path, c); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Save of a short secret: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("invalid credentials written")
	}
}

func TestLoadRejects(t *testing.T) {
	good := valid()
	for _, tc := range []struct {
		name    string
		content string // "" with missing: no file
		missing bool
		invalid bool   // errors.Is(err, ErrInvalid)
		msg     string // in the error
	}{
		{name: "missing file", missing: true, msg: "read credentials"},
		{name: "not JSON", content: "deviceId=dev_x", invalid: true, msg: FileName},
		{name: "empty object", content: `{}`, invalid: true, msg: "device id"},
		{name: "bad device id", content: `{"deviceId":"host-1","secret":"` + good.Secret + `","mqttUrl":"tcp://c:1883"}`, invalid: true, msg: `device id "host-1"`},
		{name: "short secret", content: `{"deviceId":"` + good.DeviceID + `","secret":"abc","mqttUrl":"tcp://c:1883"}`, invalid: true, msg: "shorter than 32"},
		{name: "mqttUrl without host", content: `{"deviceId":"` + good.DeviceID + `","secret":"` + good.Secret + `","mqttUrl":"cloud:1883"}`, invalid: true, msg: "not a URL"},
		{name: "mqttUrl scheme", content: `{"deviceId":"` + good.DeviceID + `","secret":"` + good.Secret + `","mqttUrl":"http://c:1883"}`, invalid: true, msg: `scheme "http"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			if !tc.missing {
				os.WriteFile(path, []byte(tc.content), 0o600)
			}
			c, err := Load(path)
			if err == nil || c != nil {
				t.Fatalf("loaded %+v", c)
			}
			if errors.Is(err, ErrInvalid) != tc.invalid || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q: want ErrInvalid %v and %q in it", err, tc.invalid, tc.msg)
			}
			if tc.missing && !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("missing file: %v", err)
			}
		})
	}
}

func TestValidateSchemes(t *testing.T) {
	for _, scheme := range []string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"} {
		c := valid()
		c.MQTTURL = scheme + "://cloud.example.com:1883"
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", scheme, err)
		}
	}
}

func TestIDsAndHashes(t *testing.T) {
	id := NewDeviceID()
	if c := (&Credentials{DeviceID: id, Secret: NewSecret(), MQTTURL: "tcp://c:1883"}); c.Validate() != nil {
		t.Fatalf("fresh device id %q or secret invalid: %v", id, c.Validate())
	}
	if NewDeviceID() == id || NewSecret() == NewSecret() {
		t.Fatal("not random")
	}
	tok := NewToken("cfe_")
	if !strings.HasPrefix(tok, "cfe_") || len(tok) != 4+43 {
		t.Fatalf("token %q", tok)
	}
	h := Hash(tok)
	for _, tc := range []struct {
		hash, secret string
		want         bool
	}{
		{h, tok, true},
		{h, tok + "x", false},
		{h[:10], tok, false},
		{"not hex", tok, false},
	} {
		if got := Equal(tc.hash, tc.secret); got != tc.want {
			t.Errorf("Equal(%q, %q) = %v", tc.hash, tc.secret, got)
		}
	}
	if TrimToken("  cfe_x\n") != "cfe_x" {
		t.Fatal("TrimToken")
	}
}

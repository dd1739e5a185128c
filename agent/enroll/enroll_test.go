package enroll

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/clawfleet/clawfleet/pkg/creds"
)

const (
	testID     = "dev_abcdefgh12345678"
	testSecret = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	testToken  = "cfe_goodtoken"
)

// fakeCloud answers POST /api/enroll like the cloud: 201 with credentials for
// the right token, 401 JSON otherwise. It records the last request.
func fakeCloud(t *testing.T, got *Request) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/enroll" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		var req Request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if got != nil {
			*got = req
		}
		w.Header().Set("Content-Type", "application/json")
		if req.Token != testToken {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"enrollment token is invalid or expired","code":"invalid_token"}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{
			"deviceId": testID, "secret": testSecret, "mqttUrl": "tcp://127.0.0.1:1883", "cloudUrl": "http://" + r.Host,
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestEnrollSuccess(t *testing.T) {
	var got Request
	srv := fakeCloud(t, &got)
	dir := filepath.Join(t.TempDir(), "state")
	path, c, err := Enroll(context.Background(), Params{
		CloudURL: srv.URL + "/", Token: " " + testToken + "\n", StateDir: dir,
		Hostname: "edge-1", Labels: map[string]string{"site": "lab"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Token != testToken || got.Name != "edge-1" || got.Hostname != "edge-1" || got.Labels["site"] != "lab" {
		t.Errorf("request = %+v", got)
	}
	if path != filepath.Join(dir, creds.FileName) {
		t.Errorf("path = %s", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	saved, err := creds.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := creds.Credentials{DeviceID: testID, Secret: testSecret, MQTTURL: "tcp://127.0.0.1:1883", CloudURL: srv.URL}
	if *saved != want || *c != want {
		t.Errorf("saved %+v, returned %+v, want %+v", *saved, *c, want)
	}
}

func TestEnrollRefused(t *testing.T) {
	srv := fakeCloud(t, nil)
	dir := t.TempDir()
	_, _, err := Enroll(context.Background(), Params{CloudURL: srv.URL, Token: "cfe_wrong", StateDir: dir})
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want *APIError", err)
	}
	if apiErr.Status != 401 || apiErr.Code != "invalid_token" || apiErr.Message != "enrollment token is invalid or expired" {
		t.Errorf("APIError = %+v", apiErr)
	}
	if _, err := os.Stat(filepath.Join(dir, creds.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("credentials written after a refusal: %v", err)
	}
}

func TestEnrollExisting(t *testing.T) {
	srv := fakeCloud(t, nil)
	for _, force := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, creds.FileName)
		old := []byte(`{"deviceId":"dev_oldoldold"}`)
		if err := os.WriteFile(path, old, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := Enroll(context.Background(), Params{CloudURL: srv.URL, Token: testToken, StateDir: dir, Force: force})
		b, _ := os.ReadFile(path)
		if !force {
			if !errors.Is(err, ErrExists) {
				t.Errorf("without force: err = %v, want ErrExists", err)
			}
			if string(b) != string(old) {
				t.Errorf("without force: file overwritten: %s", b)
			}
			continue
		}
		if err != nil {
			t.Errorf("with force: %v", err)
		}
		if c, err := creds.Load(path); err != nil || c.DeviceID != testID {
			t.Errorf("with force: file = %s (%v)", b, err)
		}
	}
}

func TestEnrollBadInput(t *testing.T) {
	srv := fakeCloud(t, nil)
	notJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer notJSON.Close()
	badCreds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"deviceId":"nope","secret":"short","mqttUrl":"tcp://x:1"}`))
	}))
	defer badCreds.Close()
	tests := []struct {
		name, cloud, token string
		status             int // expected APIError status, 0 for a plain error
	}{
		{"no token", srv.URL, "  ", 0},
		{"bad url", "ftp://x", testToken, 0},
		{"non-JSON error", notJSON.URL, testToken, http.StatusBadGateway},
		{"invalid credentials", badCreds.URL, testToken, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, _, err := Enroll(context.Background(), Params{CloudURL: tt.cloud, Token: tt.token, StateDir: dir})
			if err == nil {
				t.Fatal("no error")
			}
			var apiErr *APIError
			if errors.As(err, &apiErr) != (tt.status != 0) || (apiErr != nil && apiErr.Status != tt.status) {
				t.Errorf("err = %v", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("files written: %v", entries)
			}
		})
	}
}

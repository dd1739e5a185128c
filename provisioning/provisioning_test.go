package provisioning

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProvisionDevice(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		mqtt    string
		wantErr string
		wantURL string
	}{
		{"ok", 201, `{"deviceId":"dev_abcdefghijklmnop","secret":"` + strings.Repeat("s", 43) + `","mqttUrl":"tcp://cloud:1883","cloudUrl":"http://cloud"}`, "", "", "tcp://cloud:1883"},
		{"override mqtt", 201, `{"deviceId":"dev_abcdefghijklmnop","secret":"` + strings.Repeat("s", 43) + `","mqttUrl":"tcp://cloud:1883"}`, "ssl://mqtt.example.com:8883", "", "ssl://mqtt.example.com:8883"},
		{"unauthorized", 401, `{"error":"missing or wrong admin token","code":"unauthorized"}`, "", "401 unauthorized", ""},
		{"bad credentials", 201, `{"deviceId":"nope"}`, "", "invalid credentials", ""},
		{"not json", 500, `boom`, "", "boom", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/admin/devices" || r.Header.Get("Authorization") != "Bearer tok" {
					t.Errorf("request %s %s auth %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c := &Client{CloudURL: srv.URL + "/", AdminToken: "tok"}
			cr, err := c.ProvisionDevice(context.Background(), "box-1", nil, tc.mqtt)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				var ae *APIError
				if tc.status != 201 && !errors.As(err, &ae) {
					t.Fatalf("not an APIError: %T", err)
				}
				return
			}
			if err != nil || cr.MQTTURL != tc.wantURL {
				t.Fatalf("creds = %+v, %v", cr, err)
			}
		})
	}
}

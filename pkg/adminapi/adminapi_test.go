package adminapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":"missing or wrong admin token","code":"unauthorized"}`))
			return
		}
		switch r.URL.Path {
		case "/ok":
			if r.Method == http.MethodPost && r.Header.Get("Content-Type") != "application/json" {
				w.WriteHeader(400)
				return
			}
			w.WriteHeader(201)
			w.Write([]byte(`{"id":"x1"}`))
		case "/plain":
			w.WriteHeader(502)
			w.Write([]byte("upstream down\n"))
		case "/garbage":
			w.Write([]byte("not json"))
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	var out struct{ ID string }
	c := &Client{BaseURL: srv.URL + "/", AdminToken: "tok"}
	if st, err := c.Do(ctx, http.MethodPost, "/ok", map[string]int{"n": 1}, &out); err != nil || st != 201 || out.ID != "x1" {
		t.Fatalf("POST /ok: %d %v %+v", st, err, out)
	}
	if _, err := c.Do(ctx, http.MethodGet, "/ok", nil, &out, 200); err == nil {
		t.Fatal("201 accepted where only 200 is")
	}
	for _, tc := range []struct {
		c    *Client
		path string
		want string
		st   int
	}{
		{&Client{BaseURL: srv.URL, AdminToken: "wrong"}, "/ok", "cloud answered 401 unauthorized: missing or wrong admin token", 401},
		{c, "/plain", "cloud answered 502: upstream down", 502},
		{c, "/garbage", "is not what was expected", 0},
		{&Client{BaseURL: "ftp://x", AdminToken: "tok"}, "/ok", `cloud URL "ftp://x"`, 0},
	} {
		_, err := tc.c.Do(ctx, http.MethodGet, tc.path, nil, &out)
		var e *Error
		if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.st != 0) != errors.As(err, &e) || (e != nil && e.Status != tc.st) {
			t.Errorf("%s: %v, want %q (status %d)", tc.path, err, tc.want, tc.st)
		}
	}
}

package serve

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/tagnet/tagnet/config"
)

// checkAuth checks that the protected endpoints want token and the probes
// do not.
func checkAuth(t *testing.T, url, token string) {
	t.Helper()
	dog := readImage(t, "dog.jpg")
	bearer := func(s string) http.Header { return http.Header{"Authorization": {s}} }

	for _, tc := range []struct {
		name      string
		header    http.Header
		challenge string // expected WWW-Authenticate; "" means 200 expected
	}{
		{"no token", nil, `Bearer realm="tagnet"`},
		{"another scheme", bearer("Basic dXNlcjpwdw=="), `Bearer realm="tagnet"`},
		{"wrong token", bearer("Bearer " + token + "x"), `Bearer realm="tagnet", error="invalid_token"`},
		{"prefix of the token", bearer("Bearer " + token[:len(token)-1]), `Bearer realm="tagnet", error="invalid_token"`},
		{"right token", bearer("Bearer " + token), ""},
		{"right token, lower-case scheme", bearer("bearer " + token), ""},
	} {
		r, err := postImage(url, dog, tc.header)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.challenge == "" {
			if r.status != http.StatusOK {
				t.Errorf("predict with %s: %d %+v, want 200", tc.name, r.status, r.Error)
			}
		} else if r.status != http.StatusUnauthorized || r.Error == nil || r.Error.Code != codeUnauthorized ||
			r.header.Get("WWW-Authenticate") != tc.challenge {
			t.Errorf("predict with %s: %d %+v, WWW-Authenticate %q; want 401 with %q",
				tc.name, r.status, r.Error, r.header.Get("WWW-Authenticate"), tc.challenge)
		}

		for _, path := range []string{"/v1/model", "/metrics"} {
			req, _ := http.NewRequest(http.MethodGet, url+path, nil)
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := http.StatusOK
			if tc.challenge != "" {
				want = http.StatusUnauthorized
			}
			if resp.StatusCode != want {
				t.Errorf("GET %s with %s: %d, want %d", path, tc.name, resp.StatusCode, want)
			}
		}
	}
	// Probes stay open.
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s without a token: %d, want 200", path, resp.StatusCode)
		}
	}
	got, err := scrape(url, bearer("Bearer "+token), `tagnet_errors_total{kind="unauthorized"}`)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 4*3 { // four refused cases × three endpoints
		t.Errorf("tagnet_errors_total{kind=\"unauthorized\"} = %v, want 12", got[0])
	}
}

func TestAuthToken(t *testing.T) {
	const token = "s3cret-token"
	ts := startServer(t, serverOpts{edit: func(c *config.Predict) { c.Server.Auth.BearerToken = token }})
	checkAuth(t, ts.url, token)
}

func TestAuthTokenFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("  from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, serverOpts{edit: func(c *config.Predict) { c.Server.Auth.BearerTokenFile = file }})
	checkAuth(t, ts.url, "from-a-file")
}

func TestAuthOff(t *testing.T) {
	ts := startServer(t, serverOpts{})
	r, err := postImage(ts.url, readImage(t, "dog.jpg"), nil)
	if err != nil || r.status != http.StatusOK {
		t.Errorf("predict without auth configured: %v %+v", err, r)
	}
}

func TestAuthTokenFileErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file    string
		want    string
		notFind bool
	}{
		{empty, "holds no token", false},
		{filepath.Join(dir, "missing"), "no such file", true},
	} {
		cfg := config.DefaultPredict()
		cfg.Server.Auth.BearerTokenFile = tc.file
		_, err := New(testP, cfg, zaptest.NewLogger(t))
		if err == nil || !strings.Contains(err.Error(), "server.auth.bearer_token_file") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("token file %s: %v, want an error naming server.auth.bearer_token_file and %q", tc.file, err, tc.want)
		}
		if tc.notFind && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("token file %s: %v does not wrap fs.ErrNotExist", tc.file, err)
		}
	}
}

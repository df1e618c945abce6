package serve

import (
	"net/http"
	"testing"
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
	ts := startServer(t, serverOpts{edit: func(o *Options) { o.BearerToken = token }})
	checkAuth(t, ts.url, token)
}

func TestAuthOff(t *testing.T) {
	ts := startServer(t, serverOpts{})
	r, err := postImage(ts.url, readImage(t, "dog.jpg"), nil)
	if err != nil || r.status != http.StatusOK {
		t.Errorf("predict without auth configured: %v %+v", err, r)
	}
}

package serve

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/tagnet/tagnet/config"
)

// authRealm is the realm of the WWW-Authenticate challenge.
const authRealm = `Bearer realm="tagnet"`

// loadToken returns the configured bearer token, reading the token file
// when one is named; nil means authentication is off.
func loadToken(a config.Auth) ([]byte, error) {
	switch {
	case a.BearerToken != "":
		return []byte(a.BearerToken), nil
	case a.BearerTokenFile != "":
		b, err := os.ReadFile(a.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("server.auth.bearer_token_file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return nil, fmt.Errorf("server.auth.bearer_token_file: %s holds no token", a.BearerTokenFile)
		}
		return []byte(tok), nil
	}
	return nil, nil
}

// auth wraps h so that it answers only requests carrying the bearer
// token; without a token configured it returns h itself. Both tokens are
// hashed before the constant-time comparison, so neither their content nor
// their lengths leak through timing.
func (s *Server) auth(h http.Handler) http.Handler {
	if s.token == nil {
		return h
	}
	want := sha256.Sum256(s.token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", authRealm)
			s.fail(w, &apiError{http.StatusUnauthorized, codeUnauthorized, "this endpoint needs an Authorization: Bearer header"})
			return
		}
		got := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", authRealm+`, error="invalid_token"`)
			s.fail(w, &apiError{http.StatusUnauthorized, codeUnauthorized, "the bearer token is not valid"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// bearerToken returns the token of an Authorization header of the Bearer
// scheme (the scheme's case does not matter).
func bearerToken(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

package serve

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// authRealm is the realm of the WWW-Authenticate challenge.
const authRealm = `Bearer realm="tagnet"`

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

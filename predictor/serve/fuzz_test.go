package serve

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzReadImages gives the request reader (readImages: a raw body or a
// multipart form) an arbitrary body under an arbitrary boundary, and the
// same bytes as the one file of a well-formed form:
//
//   - it never panics, and refuses only with 400 or 413;
//
//   - what it accepts holds 1 to MaxImages images of at most
//     server.max_body_bytes in all;
//
//   - a well-formed form within the limits reads back as exactly its
//     file's bytes (a form over the limit is 413, never cut short); the
//     boundary must not occur in the file, as for any multipart writer.
//
//     go test ./predictor/serve -run '^$' -fuzz FuzzReadImages -fuzztime 60s
func FuzzReadImages(f *testing.F) {
	const limit = 4 << 10
	s, err := New(testP, Options{MaxBodyBytes: limit, QueueSize: 1})
	if err != nil {
		f.Fatal(err)
	}
	form := func(boundary string, parts ...[]byte) []byte {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		if err := mw.SetBoundary(boundary); err != nil {
			f.Fatal(err)
		}
		for _, p := range parts {
			w, err := mw.CreateFormFile("images", "a.jpg")
			if err != nil {
				f.Fatal(err)
			}
			w.Write(p)
		}
		mw.Close()
		return b.Bytes()
	}
	f.Add("b0undary", form("b0undary", []byte("\xff\xd8\xff"), []byte("second")))
	f.Add("b0undary", form("b0undary"))
	f.Add("x", form("x", []byte("--x\r\n"), []byte("\r\n--x--")))
	f.Add("b0undary", form("b0undary", bytes.Repeat([]byte{'a'}, limit)))
	f.Add("b0undary", form("b0undary", make([][]byte, MaxImages+1)...))
	f.Add("", []byte("--\r\n\r\n--"))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		read := func(contentType string, body []byte) ([]upload, *apiError) {
			r := httptest.NewRequest(http.MethodPost, "/v1/predict", bytes.NewReader(body))
			r.Header.Set("Content-Type", contentType)
			return s.readImages(httptest.NewRecorder(), r)
		}
		check := func(ups []upload, aerr *apiError) {
			if aerr != nil {
				if aerr.status != http.StatusBadRequest && aerr.status != http.StatusRequestEntityTooLarge {
					t.Fatalf("refused with %d: %s", aerr.status, aerr.Message)
				}
				return
			}
			total := 0
			for _, u := range ups {
				total += len(u.data)
			}
			if len(ups) < 1 || len(ups) > MaxImages || total > limit {
				t.Fatalf("accepted %d images of %d bytes in all", len(ups), total)
			}
		}
		check(read("multipart/form-data; boundary="+boundary, body))
		check(read("image/jpeg", body))

		// The same bytes as the one file of a well-formed form.
		mw := multipart.NewWriter(nil)
		if mw.SetBoundary(boundary) != nil || bytes.Contains(body, []byte("--"+boundary)) {
			// Not a boundary a writer may use, or one the file holds (a
			// form cannot carry it: a writer would choose another).
			return
		}
		wellFormed := form(boundary, body)
		ups, aerr := read(mw.FormDataContentType(), wellFormed)
		switch {
		case len(wellFormed) > limit:
			if aerr == nil || aerr.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("a form of %d bytes over the limit of %d: %v, %d images", len(wellFormed), limit, aerr, len(ups))
			}
		case aerr != nil:
			t.Fatalf("a well-formed form of %d bytes refused: %d %s", len(wellFormed), aerr.status, aerr.Message)
		case len(ups) != 1 || !bytes.Equal(ups[0].data, body):
			t.Fatalf("a well-formed form read back as %d images; want its one file of %d bytes", len(ups), len(body))
		}
	})
}

package serve

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tagnet/tagnet/predictor/batch"
)

// rowsSink keeps the rows a batch run writes.
type rowsSink struct{ rows []batch.Row }

func (s *rowsSink) Write(rows []batch.Row) error {
	s.rows = append(s.rows, rows...)
	return nil
}

// The three ways to predict — Predictor.PredictBytes, a directory run of
// package batch and this service (with batching on) — go through the one
// batch primitive, predictor.Run, and give the same row for the same
// image: the same labels and probabilities for the good ones, the same
// error for the corrupt and truncated ones, in the same order.
func TestPredictBytesBatchAndServeAgree(t *testing.T) {
	names := []string{"dog.jpg", "testdata/format.webp", "corrupt", "person.jpg", "truncated", "eagle.jpg"}
	dog := readImage(t, "dog.jpg")
	images := make([][]byte, len(names))
	for i, n := range names {
		switch n {
		case "corrupt":
			images[i] = []byte("GIF89a, and then nothing an image would hold")
		case "truncated":
			images[i] = dog[:len(dog)/2]
		default:
			images[i] = readImage(t, n)
		}
	}

	// PredictBytes.
	want, wantErrs := testP.PredictBytes(context.Background(), images)

	// A batch run over the same images as files, in name order.
	dir := t.TempDir()
	files := make([]batch.File, len(images))
	for i, b := range images {
		path := filepath.Join(dir, fmt.Sprintf("%02d.img", i))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		files[i] = batch.File{Path: path}
	}
	var sink rowsSink
	if _, err := batch.Run(context.Background(), testP, files, &sink, batch.Options{Workers: 2}); err != nil {
		t.Fatal(err)
	}

	// The service, with batching on.
	ts := startServer(t, serverOpts{edit: func(o *Options) { o.Batching = true }})
	parts := make([]part, len(images))
	for i, b := range images {
		parts[i] = part{name: names[i], data: b}
	}
	body, header := multipartBody(t, parts...)
	r, err := request(http.MethodPost, ts.url+"/v1/predict", body, header)
	if err != nil || r.status != http.StatusOK || len(r.Results) != len(images) {
		t.Fatalf("POST: %v %+v", err, r)
	}

	if len(sink.rows) != len(images) {
		t.Fatalf("batch wrote %d rows for %d files", len(sink.rows), len(images))
	}
	bad := 0
	for i, n := range names {
		row, res := sink.rows[i], r.Results[i]
		if row.File != files[i].Path || res.Index != i || res.Name != filepath.Base(n) {
			t.Errorf("%s: row of %s, result %d %q: out of order", n, row.File, res.Index, res.Name)
		}
		if wantErrs[i] != nil {
			bad++
			if row.Err != wantErrs[i].Error() {
				t.Errorf("%s: batch error %q, PredictBytes %q", n, row.Err, wantErrs[i])
			}
			if res.Error == nil || res.Error.Code != codeBadImage || res.Error.Message != wantErrs[i].Error() {
				t.Errorf("%s: served error %+v, PredictBytes %q", n, res.Error, wantErrs[i])
			}
			continue
		}
		if row.Err != "" || res.Error != nil {
			t.Errorf("%s: batch error %q, served error %+v; PredictBytes predicted it", n, row.Err, res.Error)
			continue
		}
		if !slices.Equal(row.Labels, want[i].Labels) || !slices.Equal(res.Labels, want[i].Labels) {
			t.Errorf("%s: labels %v (batch) and %v (served), PredictBytes %v", n, row.Labels, res.Labels, want[i].Labels)
		}
		for k, c := range want[i].Classes {
			w := want[i].Probabilities[k]
			if d := math.Abs(float64(row.Probabilities[k] - w)); d > 1e-6 {
				t.Errorf("%s %s: batch %v, PredictBytes %v", n, c, row.Probabilities[k], w)
			}
			if d := math.Abs(res.Probabilities[c] - float64(w)); d > 1e-6 {
				t.Errorf("%s %s: served %v, PredictBytes %v", n, c, res.Probabilities[c], w)
			}
		}
	}
	if bad != 2 {
		t.Errorf("%d images failed, want the corrupt and the truncated one", bad)
	}
}

package serve

import (
	"strings"
	"testing"
)

// TestOptionsErrors: unusable options are one error naming every bad
// field. (The configuration keys they come from are checked by config, and
// cmd/tagnet-predict's TestServeOptions holds the two together.)
func TestOptionsErrors(t *testing.T) {
	opt := testOptions(t)
	opt.QueueSize = 0
	opt.MaxBodyBytes = -1
	opt.RequestTimeout = -1
	_, err := New(testP, opt)
	if err == nil {
		t.Fatal("New accepted bad options")
	}
	for _, field := range []string{"QueueSize", "MaxBodyBytes", "RequestTimeout"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("New's error does not name %s: %v", field, err)
		}
	}
	if _, err := New(nil, testOptions(t)); err == nil {
		t.Error("New accepted a nil predictor")
	}
}

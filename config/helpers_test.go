package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// isolateEnv blanks every TAGNET_* variable the loader reads, and
// JOB_COMPLETION_INDEX, for the duration of the test, so that the
// developer's environment cannot change results. viper and the loader both
// treat an empty variable as unset.
func isolateEnv(t *testing.T) {
	t.Helper()
	for _, k := range append(TrainKeys(), PredictKeys()...) {
		if _, ok := os.LookupEnv(EnvName(k)); ok {
			t.Setenv(EnvName(k), "")
		}
	}
	if _, ok := os.LookupEnv(JobCompletionIndexEnv); ok {
		t.Setenv(JobCompletionIndexEnv, "")
	}
}

// keyErrors returns the KeyErrors joined in err.
func keyErrors(err error) []*KeyError {
	var out []*KeyError
	for _, e := range splitErrors(err) {
		var ke *KeyError
		if errors.As(e, &ke) {
			out = append(out, ke)
		}
	}
	return out
}

// wantErrors fails unless err contains every substring of want.
func wantErrors(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
		}
	}
}

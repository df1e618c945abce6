package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// JobCompletionIndexEnv is the environment variable in which Kubernetes
// gives each pod of an Indexed Job its completion index (0, 1, …). A shard
// written "auto/n" takes its index from it.
const JobCompletionIndexEnv = "JOB_COMPLETION_INDEX"

// Shard selects the part of the input that one tagnet-predict process
// handles when the same job runs as Count processes. Its text form is
// "" (not sharded), "i/n" with 0 <= i < n, or "auto/n", which takes i from
// $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job with n completions).
// Loading resolves "auto/n" into a plain "i/n".
//
// The zero value means not sharded: this process handles every input.
type Shard struct {
	// Index is this process's shard, 0 <= Index < Count; unused when Auto.
	Index int
	// Count is the number of shards; 0 means not sharded.
	Count int
	// Auto means Index is still to be read from $JOB_COMPLETION_INDEX
	// (see [Shard.Resolve]).
	Auto bool
}

// Enabled reports whether the input is split into shards at all.
func (s Shard) Enabled() bool { return s.Count > 0 }

// String returns the text form: "", "i/n" or "auto/n".
func (s Shard) String() string {
	switch {
	case s.Count == 0 && !s.Auto && s.Index == 0:
		return ""
	case s.Auto:
		return "auto/" + strconv.Itoa(s.Count)
	default:
		return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count)
	}
}

// ParseShard parses the text form of a shard: "", "i/n" or "auto/n".
func ParseShard(text string) (Shard, error) {
	s, err := parseShard(text)
	if err != nil {
		return Shard{}, fmt.Errorf("shard %q: %w", text, err)
	}
	return s, nil
}

var errShardSyntax = errors.New(`must be "", "i/n" with 0 <= i < n, or "auto/n"`)

// parseShard is ParseShard with an error that gives only the reason.
func parseShard(text string) (Shard, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return Shard{}, nil
	}
	is, ns, ok := strings.Cut(text, "/")
	if !ok {
		return Shard{}, errShardSyntax
	}
	n, err := strconv.Atoi(ns)
	if err != nil || n < 1 {
		return Shard{}, errShardSyntax
	}
	if is == "auto" {
		return Shard{Count: n, Auto: true}, nil
	}
	i, err := strconv.Atoi(is)
	if err != nil || i < 0 || i >= n {
		return Shard{}, errShardSyntax
	}
	return Shard{Index: i, Count: n}, nil
}

// Resolve returns s with Auto replaced by the index in
// $JOB_COMPLETION_INDEX; a shard that is not Auto is returned as is.
func (s Shard) Resolve() (Shard, error) {
	if !s.Auto {
		return s, nil
	}
	return ShardFromEnv(s.Count)
}

// ShardFromEnv returns shard i of count, with i read from
// $JOB_COMPLETION_INDEX. It fails when the variable is unset, not an
// integer, or not in [0, count).
func ShardFromEnv(count int) (Shard, error) {
	v, ok := os.LookupEnv(JobCompletionIndexEnv)
	if !ok || v == "" {
		return Shard{}, fmt.Errorf("%s is not set (is this a Kubernetes Indexed Job?)", JobCompletionIndexEnv)
	}
	i, err := strconv.Atoi(v)
	if err != nil {
		return Shard{}, fmt.Errorf("%s=%q is not an integer", JobCompletionIndexEnv, v)
	}
	if count < 1 || i < 0 || i >= count {
		return Shard{}, fmt.Errorf("%s=%d is outside [0, %d)", JobCompletionIndexEnv, i, count)
	}
	return Shard{Index: i, Count: count}, nil
}

// MarshalText implements [encoding.TextMarshaler] with the text form.
func (s Shard) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements [encoding.TextUnmarshaler] with [ParseShard].
func (s *Shard) UnmarshalText(b []byte) error {
	v, err := ParseShard(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// setText implements textSetter for the loader.
func (s *Shard) setText(text string) error {
	v, err := parseShard(text)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// validate checks a shard built in code.
func (s Shard) validate(c *checker, key string) {
	if s.Auto {
		if s.Count < 1 {
			c.fail(key, s.String(), "%v", errShardSyntax)
		}
		return
	}
	if s.Count == 0 && s.Index == 0 {
		return
	}
	if s.Count < 1 || s.Index < 0 || s.Index >= s.Count {
		c.fail(key, s.String(), "%v", errShardSyntax)
	}
}

package main

import (
	"path/filepath"
	"testing"
)

// noServer is an env whose server address answers nothing: a command that
// should fail before it asks the server fails with its own code, not 5.
func noServer(t *testing.T) *env {
	t.Helper()
	return &env{t: t, server: "http://127.0.0.1:1", workdir: t.TempDir()}
}

// Every --limit takes 1 to 10000; anything else is a usage error before the
// server is asked, not a silently shorter list.
func TestCLILimitRange(t *testing.T) {
	e := noServer(t)
	for _, cmd := range [][]string{{"results"}, {"verdicts", "--device", "cam-1"}, {"deployment", "list"}, {"pipeline", "list"}, {"label", "list"}} {
		for _, limit := range []string{"0", "-1", "10001"} {
			e.fails(2, "--limit "+limit+" is out of range: use 1 to 10000", append(cmd, "--limit", limit)...)
		}
	}
	e.fails(5, "", "results", "--limit", "10000") // in range: it does ask the server
	e.fails(2, "--device is required", "verdicts")
}

// A metric that is not a finite number is invalid input (exit 2), found
// before anything is uploaded.
func TestCLIMetricMustBeFinite(t *testing.T) {
	e := noServer(t)
	model, _ := filepath.Abs("../../samples/models/sample-tiny.onnx")
	for _, v := range []string{"NaN", "nan", "Inf", "+Inf", "-Inf", "infinity"} {
		e.fails(2, "the value must be a finite number", "model", "register", "metal-tags", model, "--metric", "map50="+v)
	}
}

// A token lifetime of zero or less is a usage error, not the default hour.
func TestCLITokenTTLMustBePositive(t *testing.T) {
	e := noServer(t)
	for _, ttl := range []string{"0s", "0", "-1h"} {
		e.fails(2, "--ttl", "device", "token", "create", "--ttl", ttl)
	}
}

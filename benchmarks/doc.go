// Package benchmarks holds tagnet's `go test -bench` suites, which measure
// whole flows rather than single functions: the predictor's latency at the
// batch sizes a service sees, preprocessing alone, directory throughput
// through the batch pipeline, each beside a peer (ONNX Runtime's own
// Node.js binding, see peer/) or the ceiling it is held to, in the same
// run. The package has no code of its own; every benchmark says above it
// the command that reproduces it, and README-bench.md says how to compare
// runs with benchstat.
package benchmarks

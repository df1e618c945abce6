// Package policy holds no code: its test states tagnet's dependency rules
// (in the manner of Go's own go/build/deps_test.go) and fails the build
// when a change breaks them.
//
//   - The predictor binary never builds from trainer packages.
//   - Only the ONNX Runtime binding (github.com/yalue/onnxruntime_go) and
//     the trainer's BLAS binding use cgo.
//   - models, the trainer→predictor contract, depends only on the standard
//     library and protobuf.
//   - Only cmd/ and config/ import viper.
package policy

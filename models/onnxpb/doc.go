// Package onnxpb holds Go types generated from the subset of ONNX's
// onnx.proto that tagnet reads and writes (see onnx.proto beside this file).
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative onnx.proto

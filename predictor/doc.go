// Package predictor serves a tagnet model: it turns encoded images into
// labels with ONNX Runtime. It is the predicting half of tagnet's flow and
// never depends on the trainer:
//
//	model.onnx ──► metadata (labels, preprocessing, threshold sweep)
//	images ──► preprocess ──► forward (ONNX Runtime) ──► postprocess ──► labels
//
// A [Predictor] is built from a model file: [New] reads the metadata the
// trainer stored in it, builds the very preprocessing the model was trained
// with, chooses each class's threshold from the stored sweep by a strategy
// (see package postprocess), and opens an ONNX Runtime session (package ort).
// Its methods are the three stages, named after the data they produce, so
// that callers which schedule work themselves (the batch pipeline of package
// batch, the HTTP service) can overlap them:
//
//   - [Predictor.Preprocess]: encoded image → float32 [3,H,W] in a caller's
//     buffer;
//   - [Predictor.Forward]: a float32 [N,3,H,W] batch → [N,C] logits;
//   - [Predictor.Postprocess]: logits → [Prediction]s.
//
// A [Batch] carries images through the three together: its slots are
// filled by decoding (concurrently, slot by slot), then [Predictor.Run]
// packs the images that decoded, runs them in forward passes of at most
// MaxBatch, postprocesses them and scatters each prediction back to its
// slot; a bad image keeps its own error. This is the one batch loop of the
// predictor: [Predictor.PredictBytes] (a handful of images), package batch
// (directories, decoding the next batches while the session runs one) and
// the HTTP service (several requests gathered into one batch) all run
// through it. Decoding limits are the Preprocessor's, set once from
// [Options] (MaxPixels, MaxBytes), and the warm-up runs once, in [New].
// [Describe] reports what [Predictor.Info] reports without loading ONNX
// Runtime, for commands that only inspect a model.
//
// A Predictor is safe for concurrent use by many goroutines.
package predictor

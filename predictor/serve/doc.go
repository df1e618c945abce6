// Package serve is tagnet's HTTP prediction service, behind
// `tagnet-predict serve`: the predictor's flow (decode → preprocess →
// forward → postprocess) answered over HTTP with JSON.
//
//	request ──► auth ──► admission (bounded queue) ──► read body, preprocess
//	        ──► model worker (optional dynamic batching) ──► forward
//	        ──► postprocess ──► fan results back ──► JSON response
//
// Every request decodes and preprocesses its own images on its own
// goroutine, into the slots of its own predictor.Batch; one model worker
// runs the forward passes, so that ONNX Runtime's intra-op threads own the
// CPU (or the GPU) while decoding of the next requests overlaps. With
// batching on (server.batching, [Options].Batching), the worker takes the
// first waiting request, collects further ones for at most
// server.batching.max_delay or until the predictor's MaxBatch images
// (server.batching.max_batch) are gathered, and runs them as one batch with
// predictor.Run — the predictor's one batch primitive, which PredictBytes
// and package batch use too — so every request finds its own predictions in
// its own Batch.
//
// The service is configured by [Options], which cmd/tagnet-predict builds
// from the configuration's server section; the keys named below are that
// section's. The pixel limit (server.max_pixels), the largest forward pass
// and the warm-up (runtime.warmup) belong to the predictor and are applied
// once, when it is opened.
//
// # Endpoints
//
//   - POST /v1/predict: the body is one encoded image (any content type but
//     multipart), or a multipart/form-data form whose every part is an image
//     (at most [MaxImages], named by the part's file name, else its form
//     name). The answer lists, per image in order, its labels,
//     probabilities and the thresholds used, or its error, with the model
//     version (example below).
//   - GET /v1/model: the model as the predictor uses it (labels,
//     thresholds and the strategy that chose them, preprocessing, version,
//     provider, training summary): predictor.Info as JSON.
//   - GET /healthz: 200 while the process serves HTTP at all.
//   - GET /readyz: 200 once the model is loaded and warmed up; 503 before
//     that and from the moment shutdown begins.
//   - GET /metrics: Prometheus metrics from the server's own registry (see
//     below).
//
// An answer to POST /v1/predict:
//
//	{"model_version": "3f2a9c0e11b4", "results": [
//	  {"index": 0, "name": "dog.jpg", "labels": ["animal"],
//	   "probabilities": {"animal": 0.91, "outdoor": 0.42, "person": 0.03},
//	   "thresholds": {"animal": 0.3, "outdoor": 0.5, "person": 0.7}},
//	  {"index": 1, "name": "notes.txt",
//	   "error": {"code": "bad_image", "message": "bad image: …"}}]}
//
// # Status codes
//
// Errors are JSON objects {"error": {"code": "…", "message": "…"}}; the code
// is the stable part.
//
//   - 200: predictions. A request with several images answers 200 even
//     when some (or all) of its images are bad; each bad image has its own
//     error in results.
//   - 400 bad_request: empty body, a malformed multipart form, a form
//     without images.
//   - 401 unauthorized: a bearer token is configured and the request lacks
//     it or carries another one (WWW-Authenticate: Bearer).
//   - 413 body_too_large: the body is over server.max_body_bytes (refused
//     from Content-Length before reading when the client sends it).
//     413 too_many_pixels: a single image whose header declares more than
//     server.max_pixels pixels (refused before decoding). 413
//     too_many_images: a form with more than MaxImages parts.
//   - 422 bad_image: a single image that cannot be decoded: not an image,
//     an unsupported format, truncated or corrupt data.
//   - 429 queue_full: server.queue_size requests are already waiting for
//     the model; retry later (Retry-After: 1). The request was not read.
//   - 503 not_ready (still warming up), shutting_down (shutdown has begun),
//     timeout (server.request_timeout passed before the model answered,
//     usually while waiting in the queue). Retry-After is set.
//   - 500 internal: the model failed to run; the server logs why.
//
// # Queue
//
// A request takes a queue slot before its body is read and gives it back
// when the model worker takes it for a batch, so server.queue_size bounds
// the requests reading, decoding or waiting for the model (and with them
// the memory of decoded images); the batch running in the model comes on
// top. A request finding every slot taken is answered 429 at once.
// server.request_timeout runs from the request's arrival; a request whose
// time runs out while queued is answered 503 timeout and never runs.
//
// # Authentication
//
// With server.auth.bearer_token or server.auth.bearer_token_file set,
// /v1/predict, /v1/model and /metrics require "Authorization: Bearer
// <token>", compared in constant time. /healthz and /readyz stay open, as
// load balancers and orchestrators probe them without credentials. Metrics
// are protected because they reveal traffic and the model version; give
// the scraper the token (Prometheus: authorization.credentials_file).
//
// # Metrics
//
// From the server's own registry (never the global one), beside the Go
// and process collectors:
//
//   - tagnet_http_requests_total{handler,code}: requests answered;
//     code 499 counts requests whose client went away first.
//   - tagnet_http_request_duration_seconds{handler}: latency histogram.
//   - tagnet_http_requests_in_flight: requests being handled.
//   - tagnet_queue_depth: requests holding a queue slot.
//   - tagnet_batch_size: images per forward pass (histogram).
//   - tagnet_forward_duration_seconds: time of one forward pass.
//   - tagnet_errors_total{kind}: refused requests and failed images by
//     error code (bad_image and too_many_pixels count images; the others
//     count requests).
//   - tagnet_images_total{result}: images predicted ("ok") or refused
//     ("error").
//   - tagnet_model_info{version,arch,provider}: 1 for the model served.
//
// # Shutdown
//
// When the context given to [Server.Serve] (or [Run]) is cancelled — cmd
// cancels it on SIGTERM or SIGINT — the server turns not ready, stops
// accepting connections, lets every request in flight or queued finish
// (for up to server.shutdown_timeout; then the remaining connections are
// closed and Serve returns an error saying so), stops the model worker and
// returns. It listens on 127.0.0.1:8080 unless server.listen says
// otherwise.
package serve

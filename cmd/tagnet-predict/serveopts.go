package main

import (
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/tagnet/tagnet/config"
	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/serve"
)

// serveOptions converts the server section of cfg into the HTTP service's
// options, as sessionOptions converts the runtime section: predictor/serve
// never reads the configuration (nor reaches viper through it). It reads
// the bearer token file when server.auth.bearer_token_file names one.
func serveOptions(cfg *config.Predict, logger *zap.Logger) (serve.Options, error) {
	s := cfg.Server
	token, err := bearerToken(s.Auth)
	if err != nil {
		return serve.Options{}, err
	}
	return serve.Options{
		Listen:          s.Listen,
		MaxBodyBytes:    s.MaxBodyBytes,
		ReadTimeout:     s.ReadTimeout,
		WriteTimeout:    s.WriteTimeout,
		RequestTimeout:  s.RequestTimeout,
		ShutdownTimeout: s.ShutdownTimeout,
		QueueSize:       s.QueueSize,
		Batching:        s.Batching.Enabled,
		MaxDelay:        s.Batching.MaxDelay,
		BearerToken:     token,
		Logger:          logger,
	}, nil
}

// servePredictorOptions are the predictor options of the serve command:
// its largest forward pass (server.batching.max_batch with batching on;
// otherwise serve.MaxImages, so a request's own images run as one pass),
// the pixel limit server.max_pixels, and with runtime.warmup one warm-up
// batch of the size it will run most (that largest batch with batching on,
// one image otherwise). The predictor runs the warm-up when it opens; the
// server runs none of its own.
func servePredictorOptions(cfg *config.Predict) predictor.Options {
	maxBatch, warmup := serve.MaxImages, 1
	if cfg.Server.Batching.Enabled {
		maxBatch, warmup = cfg.Server.Batching.MaxBatch, cfg.Server.Batching.MaxBatch
	}
	if !cfg.Runtime.Warmup {
		warmup = 0
	}
	return predictor.Options{Warmup: warmup, MaxBatch: maxBatch, MaxPixels: cfg.Server.MaxPixels}
}

// bearerToken returns the token of the server.auth section: bearer_token,
// or the content of bearer_token_file trimmed of surrounding white space;
// "" means authentication is off.
func bearerToken(a config.Auth) (string, error) {
	switch {
	case a.BearerToken != "":
		return a.BearerToken, nil
	case a.BearerTokenFile != "":
		b, err := os.ReadFile(a.BearerTokenFile)
		if err != nil {
			return "", fmt.Errorf("server.auth.bearer_token_file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("server.auth.bearer_token_file: %s holds no token", a.BearerTokenFile)
		}
		return tok, nil
	}
	return "", nil
}

package weights

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tagnet/tagnet/models"
)

// Loaded is the outcome of [Load].
type Loaded struct {
	// Weights are g's weights: the pretrained body, and the head either
	// pretrained (same linear head) or as base had it.
	Weights models.Weights
	// Path is the file the weights were read from (the cache entry for a
	// name).
	Path string
	// Published is set when the weights were named (IMAGENET1K_V1, …).
	Published *Published
	// Fetch says whether a named file was downloaded; nil for a path.
	Fetch *FetchResult
	// Mean and Std are the input normalisation the weights expect (RGB,
	// for values scaled to [0,1]): ImageNet's for torchvision and timm
	// ResNets, and assumed so for files, as fastai does for pretrained
	// bodies.
	Mean, Std [3]float32
	// Head is true when the classifier was taken from the weights.
	Head bool
	// Loaded counts the tensors copied (for ONNX, the convolutions).
	Loaded int
	// Dropped lists state-dict entries not used (fc of another head,
	// num_batches_tracked).
	Dropped []string
	// FoldedBN counts BatchNorms found folded into ONNX convolutions.
	FoldedBN int
}

// Load resolves source (the value of model.weights) into weights for g,
// starting from base (g's freshly initialised weights, which keep the
// head when the weights' classifier does not fit):
//   - a weights name (IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT; any value
//     without a '.' or a path separator is taken as a name) is looked up
//     for g's architecture and fetched into the cache ([Fetch] with opt);
//   - a path ending in .onnx is a torchvision-layout ONNX ResNet, imported
//     with [models.Import] (BatchNorm folded or not);
//   - any other path is a PyTorch or safetensors state dict ([ReadFile]),
//     mapped strictly with [Apply].
//
// source must not be empty.
func Load(ctx context.Context, source string, g *models.Graph, base models.Weights, opt FetchOptions) (*Loaded, error) {
	out := &Loaded{Mean: imageNetMean, Std: imageNetStd}
	path := source
	switch {
	case source == "":
		return nil, fmt.Errorf("loading weights: no source given")
	case IsName(source) || !strings.ContainsAny(source, "./"+string(filepath.Separator)):
		// A bare word is a weights name; Lookup lists the known ones.
		p, err := Lookup(g.Spec.Arch, source)
		if err != nil {
			return nil, err
		}
		res, err := Fetch(ctx, p, opt)
		if err != nil {
			return nil, err
		}
		out.Published, out.Fetch, path = &p, res, res.Path
		out.Mean, out.Std = p.Mean, p.Std
	case strings.EqualFold(filepath.Ext(source), ".onnx"):
		b, err := os.ReadFile(source)
		if err != nil {
			return nil, fmt.Errorf("loading weights: %w", err)
		}
		f, err := models.ParseONNX(b)
		if err != nil {
			return nil, fmt.Errorf("loading weights %s: %w", source, err)
		}
		w, rep, err := models.Import(f, g, base)
		if err != nil {
			return nil, fmt.Errorf("loading weights %s: %w", source, err)
		}
		out.Weights, out.Path, out.Head, out.Loaded, out.FoldedBN = w, source, rep.Head, rep.Convs, rep.FusedBN
		return out, nil
	}
	sd, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	w, rep, err := Apply(sd, g, base, path)
	if err != nil {
		return nil, err
	}
	out.Weights, out.Path, out.Head, out.Loaded, out.Dropped = w, path, rep.Head, rep.Loaded, rep.Dropped
	return out, nil
}

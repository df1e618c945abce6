// Package data is the trainer's input side: it reads a labelled image set,
// splits it, augments it and feeds batches to the training loop.
//
//	labels CSV + image folder ──► LoadCSV (checks every row and image header)
//	      ──► Dataset{Labels, Train, Valid, Report}
//	      ──► Loader (worker goroutines: decode ──► Augmenter ──► NCHW batch)
//	      ──► training step
//
// # Data layout
//
// [LoadCSV] reads fastai's multi-label layout (PASCAL VOC 2007 in the fastai
// book): a CSV with a file-name column, a column of space-separated labels
// and an optional is_valid column, beside a folder of images. Bad rows and
// bad images are never dropped silently: each problem is described in the
// returned [Report] (skip policy) or makes loading fail with a [*LoadError]
// that lists them all (fail policy).
//
// Two generators write data in that same layout, so the rest of the
// pipeline cannot tell them from real data: [Synth], seeded synthetic shapes
// that need nothing installed, and [FashionMNIST], the project's standard
// benchmark composed from Debian's Fashion-MNIST files.
//
// # Augmentation
//
// An [Augmenter] turns a decoded image into the network's input. The
// validation path, and the training path in mode "none", call the
// preprocess package exactly as the predictor does (whole-image resize and
// centre crop from its Spec). The "crop" mode applies fastai's
// RandomResizedCrop and "crop+flip" adds a horizontal flip with probability
// 0.5; both end in the same normalisation (the preprocess package's own
// resampling and mean/std), so the network sees one value scale.
//
// Augmentation is not label-preserving for every data set. A random crop can
// cut away a small object near the border, leaving its label on an image
// that no longer shows it; a flip turns text and digits into mirror writing
// and swaps left and right. Use "none", or a larger minimum crop scale, when
// labels depend on such details.
//
// Randomness is seeded per item from (seed, epoch, item index), so a run is
// reproducible whatever the number of workers and their scheduling.
package data

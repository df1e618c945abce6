// Package preprocess turns encoded images into the float32 tensors a tagnet
// model reads. It is the one preprocessing path shared by the trainer's
// validation and augmentation code and by the predictor, so that training
// and serving cannot drift apart:
//
//	bytes ──► Decode (header check, EXIF orientation) ──► *RGB
//	      ──► resize (antialiased, as Pillow, or nfnt/resize) ──► centre crop
//	      ──► scale to [0,1], normalise by mean/std ──► NCHW float32
//
// A [Spec] describes the whole transformation. It is plain data with stable
// JSON names, so the trainer can store it in the model file's metadata and
// the predictor can read it back and build the same [Preprocessor].
//
// The geometry follows fastai's validation transform (squish the whole image
// to a slightly larger square, then centre-crop) or torchvision's (scale the
// shorter side, then centre-crop). Resampling reproduces Pillow's separable,
// antialiased filters and JPEG colour follows libjpeg-turbo, so a model
// trained in PyTorch on Pillow-loaded images sees the same input here; the
// tests compare against files Pillow wrote (testdata/gen_golden.py).
//
// [Spec.Resampler] can select github.com/nfnt/resize instead of the
// Pillow-exact resampler, for models trained on images that library
// prepared. The Pillow one stays the default because tagnet's models are
// trained in PyTorch/fastai on Pillow's pixels, which nfnt/resize misses by
// about a level on average (more at borders and edges) at two to three
// times the cost. One conformance test (TestResamplersAgree) runs both on
// the same inputs and bounds how far apart they may be.
package preprocess

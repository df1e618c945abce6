package preprocess

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// TestDefault checks the fastai validation geometry (size + ceil(size·0.14/8)·8:
// 128 → 152 and 224 → 256, per fastai-recipe.md) and that the presets are valid.
func TestDefault(t *testing.T) {
	for size, resize := range map[int]int{128: 152, 224: 256, 64: 80, 8: 16} {
		s := Default(size)
		if err := s.Validate(); err != nil {
			t.Errorf("Default(%d): %v", size, err)
		}
		if s.ResizeWidth != resize || s.ResizeHeight != resize || s.Width != size || s.Height != size {
			t.Errorf("Default(%d) resizes to %dx%d, crops to %dx%d; want %d then %d",
				size, s.ResizeWidth, s.ResizeHeight, s.Width, s.Height, resize, size)
		}
	}
	if err := Default(0).Validate(); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("Default(0) validated: %v", err)
	}
	if err := Torchvision(224, 256).Validate(); err != nil {
		t.Errorf("Torchvision(224, 256): %v", err)
	}
}

// TestValidate lists one broken field per case and the word its error
// must name.
func TestValidate(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name   string
		mutate func(*Spec)
		want   string
	}{
		{"zero width", func(s *Spec) { s.Width = 0 }, "input size"},
		{"huge height", func(s *Spec) { s.Height = 1 << 20 }, "input size"},
		{"no resize mode", func(s *Spec) { s.ResizeMode = "" }, "resize_mode"},
		{"squish smaller than input", func(s *Spec) { s.ResizeWidth = s.Width - 1 }, "squish size"},
		{"shorter set in squish", func(s *Spec) { s.ResizeShorter = 200 }, "resize_shorter"},
		{"shorter too small", func(s *Spec) {
			s.ResizeMode, s.ResizeWidth, s.ResizeHeight, s.ResizeShorter = ResizeShorterSide, 0, 0, 100
		}, "resize_shorter"},
		{"squish size in shorter mode", func(s *Spec) {
			s.ResizeMode, s.ResizeShorter = ResizeShorterSide, 160
		}, "resize_width"},
		{"unknown interpolation", func(s *Spec) { s.Interpolation = "lanczos" }, "interpolation"},
		{"unknown resampler", func(s *Spec) { s.Resampler = "lanczos" },
			`unknown resampler "lanczos" (want "pillow", "nfnt" or empty`},
		{"resampler is case-sensitive", func(s *Spec) { s.Resampler = "NFNT" }, `resampler "NFNT"`},
		{"unknown channel order", func(s *Spec) { s.ChannelOrder = "rbg" }, "channel_order"},
		{"zero std", func(s *Spec) { s.Std[1] = 0 }, "std[1]"},
		{"negative std", func(s *Spec) { s.Std[2] = -0.2 }, "std[2]"},
		{"NaN std", func(s *Spec) { s.Std[0] = nan }, "std[0]"},
		{"NaN mean", func(s *Spec) { s.Mean[0] = nan }, "mean[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Default(128)
			tc.mutate(&s)
			err := s.Validate()
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an ErrInvalidSpec naming %q", err, tc.want)
			}
			if _, err := New(s, Limits{}); !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("New accepted the spec: %v", err)
			}
		})
	}
}

// TestValidateResampler checks that every resampler name is accepted, the
// empty one included, with either filter.
func TestValidateResampler(t *testing.T) {
	for _, r := range []Resampler{"", ResamplerPillow, ResamplerNfnt} {
		for _, i := range []Interpolation{Bilinear, Bicubic} {
			s := Default(128)
			s.Resampler, s.Interpolation = r, i
			if err := s.Validate(); err != nil {
				t.Errorf("resampler %q, %s: %v", r, i, err)
			}
		}
	}
}

// TestSpecJSON pins the JSON field names (the model file's metadata stores
// a Spec this way, so renaming one breaks every saved model) and checks a
// round trip.
func TestSpecJSON(t *testing.T) {
	data, err := json.Marshal(Default(128))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"width", "height", "resize_mode", "resize_width", "resize_height",
		"interpolation", "mean", "std", "channel_order", "exif_orientation", "colour"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("JSON %s lacks %q", data, k)
		}
	}
	if len(fields) != 11 {
		t.Errorf("JSON %s has %d fields, want 11", data, len(fields))
	}
	var back Spec
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back != Default(128) {
		t.Errorf("round trip gave %+v", back)
	}

	// The resampler is stored only when chosen, so specs saved before it
	// existed read back as the Pillow resampler and still compare equal.
	for _, r := range []Resampler{ResamplerPillow, ResamplerNfnt} {
		s := Torchvision(224, 256)
		s.Resampler = r
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if want := `"resampler":"` + string(r) + `"`; !strings.Contains(string(data), want) {
			t.Errorf("JSON %s lacks %s", data, want)
		}
		var back Spec
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if back != s {
			t.Errorf("round trip of %s gave %+v", data, back)
		}
	}
}

// TestResizedSize checks torchvision's shorter-side arithmetic on both
// orientations (the longer side is truncated, not rounded).
func TestResizedSize(t *testing.T) {
	s := Torchvision(224, 256)
	for _, tc := range []struct{ w, h, rw, rh int }{
		{500, 375, 341, 256}, // 256·500/375 = 341.33
		{375, 500, 256, 341},
		{300, 300, 256, 256},
		{1000, 3, 85333, 256},
	} {
		if rw, rh := s.resizedSize(tc.w, tc.h); rw != tc.rw || rh != tc.rh {
			t.Errorf("%dx%d → %dx%d, want %dx%d", tc.w, tc.h, rw, rh, tc.rw, tc.rh)
		}
	}
}

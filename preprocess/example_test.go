package preprocess_test

import (
	"encoding/json"
	"fmt"
	"image"
	"log"

	"github.com/tagnet/tagnet/preprocess"
)

// The predictor's path: one Preprocessor from the model's spec, files
// written into consecutive slices of one [N,3,H,W] batch.
func ExamplePreprocessor() {
	p, err := preprocess.New(preprocess.Default(128), preprocess.Limits{})
	if err != nil {
		log.Fatal(err)
	}
	paths := []string{"testdata/dog.jpg", "testdata/format.webp"}
	n := p.InputLen()
	batch := make([]float32, len(paths)*n)
	for i, path := range paths {
		if err := p.File(batch[i*n:(i+1)*n], path); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("batch [%d,3,%d,%d]: %d values\n", len(paths), p.Spec().Height, p.Spec().Width, len(batch))
	// Output: batch [2,3,128,128]: 98304 values
}

// The trainer's augmentation path: decode once, then resize a different
// crop of the same picture each epoch.
func ExamplePreprocessor_RegionInto() {
	p, err := preprocess.New(preprocess.Default(64), preprocess.Limits{})
	if err != nil {
		log.Fatal(err)
	}
	img, err := p.DecodeFile("testdata/dog.png")
	if err != nil {
		log.Fatal(err)
	}
	x := make([]float32, p.InputLen())
	crop := image.Rect(20, 10, 170, 140) // chosen by RandomResizedCrop
	if err := p.RegionInto(x, img, crop); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%dx%d photo, %v crop → %d values\n", img.Width, img.Height, crop.Size(), len(x))
	// Output: 200x150 photo, (150,130) crop → 12288 values
}

// A Spec is plain data: the trainer stores it in the model's metadata as
// JSON and the predictor reads it back.
func ExampleSpec() {
	data, err := json.Marshal(preprocess.Default(128))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(data))
	var s preprocess.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Validate())
	// Output:
	// {"width":128,"height":128,"resize_mode":"squish","resize_width":152,"resize_height":152,"interpolation":"bilinear","mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225],"channel_order":"rgb","exif_orientation":true,"colour":"srgb"}
	// <nil>
}

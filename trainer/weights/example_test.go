package weights_test

import (
	"fmt"

	"github.com/tagnet/tagnet/trainer/weights"
)

// Lookup resolves torchvision's weights names per architecture; the file
// name carries the start of the file's sha256, which Fetch checks.
func ExampleLookup() {
	for _, c := range []struct{ arch, name string }{{"resnet18", "DEFAULT"}, {"resnet50", "IMAGENET1K_V1"}, {"resnet50", "DEFAULT"}} {
		p, err := weights.Lookup(c.arch, c.name)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(c.arch, c.name, "→", p.Name, p.File, weights.HashPrefix(p.File))
	}
	// Output:
	// resnet18 DEFAULT → IMAGENET1K_V1 resnet18-f37072fd.pth f37072fd
	// resnet50 IMAGENET1K_V1 → IMAGENET1K_V1 resnet50-0676ba61.pth 0676ba61
	// resnet50 DEFAULT → IMAGENET1K_V2 resnet50-11ad3fa6.pth 11ad3fa6
}

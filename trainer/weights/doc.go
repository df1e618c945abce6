// Package weights starts training from pretrained weights: it reads PyTorch
// state dicts (torch.save files, zip and legacy formats, float32, float16 or
// bfloat16), safetensors files (Hugging Face, timm) and ONNX ResNets, maps
// their torchvision parameter names onto a [models.Graph] the way PyTorch's
// load_state_dict(strict=True) does, and downloads torchvision's published
// ImageNet weights by name (IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT) into a
// verified cache.
//
// It sits before the training loop: cmd/tagnet-train resolves model.weights
// with [Load], and the learner starts from the weights it returns. The
// predictor never imports it.
package weights

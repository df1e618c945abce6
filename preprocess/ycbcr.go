package preprocess

import (
	"image"
	"image/color"
)

// fromYCbCr converts a decoded JPEG's Y'CbCr planes to RGB the way
// libjpeg-turbo does by default (and so Pillow, torchvision.io and OpenCV):
// chroma is "fancy" upsampled (a triangle filter, 3/4 nearer sample and 1/4
// farther, with libjpeg's rounding biases and edge replication) rather than
// replicated, and the colour conversion uses libjpeg's fixed-point
// arithmetic. With the same decoded planes the result matches libjpeg-turbo
// exactly; Go's inverse DCT may still differ from libjpeg's by a level.
//
// 4:2:0, 4:2:2 and 4:4:4 images at the origin take this path; any other
// layout falls back to nearest chroma and Go's colour conversion.
func fromYCbCr(pix []uint8, src *image.YCbCr) {
	b := src.Rect
	w, h := b.Dx(), b.Dy()
	var hs, vs bool // horizontally, vertically subsampled
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
	case image.YCbCrSubsampleRatio422:
		hs = true
	case image.YCbCrSubsampleRatio420:
		hs, vs = true, true
	default:
		fromYCbCrNearest(pix, src)
		return
	}
	if b.Min != (image.Point{}) {
		fromYCbCrNearest(pix, src)
		return
	}
	cw, ch := w, h
	if hs {
		cw = (w + 1) / 2
	}
	if vs {
		ch = (h + 1) / 2
	}
	// libjpeg uses the plain (replicating) upsampler when the chroma rows
	// are two samples or fewer wide.
	fancyH := hs && cw > 2
	fancyV := vs && fancyH

	cbRow := make([]uint8, 2*cw)
	crRow := make([]uint8, 2*cw)
	cbSum := make([]int32, cw)
	crSum := make([]int32, cw)
	for y := range h {
		cy := y
		if vs {
			cy = y / 2
		}
		cb := src.Cb[cy*src.CStride : cy*src.CStride+cw]
		cr := src.Cr[cy*src.CStride : cy*src.CStride+cw]
		switch {
		case fancyV:
			// Column sums of 3·nearer row + farther row; the farther row
			// is the one above for even output rows, below for odd ones,
			// replicated at the image's top and bottom edges.
			ny := cy - 1
			if y%2 == 1 {
				ny = cy + 1
			}
			ny = min(max(ny, 0), ch-1)
			cbN := src.Cb[ny*src.CStride : ny*src.CStride+cw]
			crN := src.Cr[ny*src.CStride : ny*src.CStride+cw]
			for i := range cw {
				cbSum[i] = 3*int32(cb[i]) + int32(cbN[i])
				crSum[i] = 3*int32(cr[i]) + int32(crN[i])
			}
			upsampleH2(cbRow, cbSum, 8, 7, 4)
			upsampleH2(crRow, crSum, 8, 7, 4)
		case fancyH:
			for i := range cw {
				cbSum[i], crSum[i] = int32(cb[i]), int32(cr[i])
			}
			upsampleH2(cbRow, cbSum, 1, 2, 2)
			upsampleH2(crRow, crSum, 1, 2, 2)
		case hs:
			for i := range cw {
				cbRow[2*i], cbRow[2*i+1] = cb[i], cb[i]
				crRow[2*i], crRow[2*i+1] = cr[i], cr[i]
			}
		default:
			copy(cbRow, cb)
			copy(crRow, cr)
		}
		yr := src.Y[y*src.YStride : y*src.YStride+w]
		out := pix[3*w*y : 3*w*(y+1)]
		for x, yv := range yr {
			out[3*x], out[3*x+1], out[3*x+2] = libjpegRGB(yv, cbRow[x], crRow[x])
		}
	}
}

// upsampleH2 doubles a row of (possibly vertically summed) chroma values:
// out[2i] = (3·s[i] + s[i−1] + biasL) >> shift and out[2i+1] =
// (3·s[i] + s[i+1] + biasR) >> shift, replicating s at both ends.
func upsampleH2(out []uint8, s []int32, biasL, biasR int32, shift uint) {
	n := len(s)
	for i, v := range s {
		l, r := s[max(i-1, 0)], s[min(i+1, n-1)]
		out[2*i] = uint8((3*v + l + biasL) >> shift)
		out[2*i+1] = uint8((3*v + r + biasR) >> shift)
	}
}

// libjpegRGB is libjpeg's ycc_rgb_convert: JFIF coefficients in 16-bit
// fixed point, red and blue rounded, green summed then floored.
func libjpegRGB(y, cb, cr uint8) (r, g, b uint8) {
	const half = 1 << 15
	c, d, yy := int32(cb)-128, int32(cr)-128, int32(y)
	r = clampByte(yy + (91881*d+half)>>16)
	g = clampByte(yy + (-22554*c-46802*d+half)>>16)
	b = clampByte(yy + (116130*c+half)>>16)
	return r, g, b
}

func clampByte(v int32) uint8 {
	return uint8(min(max(v, 0), 255))
}

func fromYCbCrNearest(pix []uint8, src *image.YCbCr) {
	b := src.Rect
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			yi, ci := src.YOffset(x, y), src.COffset(x, y)
			r, g, bl := color.YCbCrToRGB(src.Y[yi], src.Cb[ci], src.Cr[ci])
			pix[i], pix[i+1], pix[i+2] = r, g, bl
			i += 3
		}
	}
}

package preprocess

import "encoding/binary"

// jpegOrientation returns the EXIF Orientation (1–8) of a JPEG file, or 1
// when the file has none or its EXIF data is malformed. It walks the marker
// segments up to the first scan and reads only IFD0 of the first Exif APP1.
func jpegOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return 1
	}
	pos := 2
	for pos+4 <= len(data) {
		if data[pos] != 0xFF {
			return 1
		}
		marker := data[pos+1]
		switch {
		case marker == 0xFF: // fill byte
			pos++
			continue
		case marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7): // no length
			pos += 2
			continue
		case marker == 0xDA || marker == 0xD9: // start of scan, end of image
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[pos+2:]))
		if n < 2 || pos+2+n > len(data) {
			return 1
		}
		payload := data[pos+4 : pos+2+n]
		if marker == 0xE1 && len(payload) >= 6 && string(payload[:6]) == "Exif\x00\x00" {
			return tiffOrientation(payload[6:])
		}
		pos += 2 + n
	}
	return 1
}

// tiffOrientation reads tag 0x0112 from IFD0 of a TIFF structure.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	ifd := int64(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return 1
	}
	count := int64(bo.Uint16(t[ifd:]))
	for i := range count {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(t)) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		if bo.Uint16(t[e+2:]) != 3 || bo.Uint32(t[e+4:]) != 1 { // one SHORT
			return 1
		}
		if o := int(bo.Uint16(t[e+8:])); o >= 1 && o <= 8 {
			return o
		}
		return 1
	}
	return 1
}

// orient returns m turned upright for EXIF orientation o (1–8); m itself
// when o is 1 or unknown.
//
// The orientation says where the stored rows and columns belong: 2 mirrors
// left–right, 3 turns 180°, 4 mirrors top–bottom, 5 transposes, 6 turns 90°
// clockwise, 7 transverses, 8 turns 90° counter-clockwise.
func orient(m *RGB, o int) *RGB {
	if o < 2 || o > 8 {
		return m
	}
	w, h := m.Width, m.Height
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := NewRGB(ow, oh)
	// For each output pixel (x', y'), the stored pixel it comes from is
	// (sx, sy) = (x0 + dx·x' + ex·y', y0 + dy·x' + ey·y').
	var x0, dx, ex, y0, dy, ey int
	switch o {
	case 2:
		x0, dx, ex, y0, dy, ey = w-1, -1, 0, 0, 0, 1
	case 3:
		x0, dx, ex, y0, dy, ey = w-1, -1, 0, h-1, 0, -1
	case 4:
		x0, dx, ex, y0, dy, ey = 0, 1, 0, h-1, 0, -1
	case 5:
		x0, dx, ex, y0, dy, ey = 0, 0, 1, 0, 1, 0
	case 6:
		x0, dx, ex, y0, dy, ey = 0, 0, 1, h-1, -1, 0
	case 7:
		x0, dx, ex, y0, dy, ey = w-1, 0, -1, h-1, -1, 0
	case 8:
		x0, dx, ex, y0, dy, ey = w-1, 0, -1, 0, 1, 0
	}
	i := 0
	for yy := range oh {
		for xx := range ow {
			sx, sy := x0+dx*xx+ex*yy, y0+dy*xx+ey*yy
			j := 3 * (sy*w + sx)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2] = m.Pix[j], m.Pix[j+1], m.Pix[j+2]
			i += 3
		}
	}
	return out
}

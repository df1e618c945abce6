package vips

import (
	"encoding/binary"
	"image"
)

// gifFirstFrame reads, from a GIF's header, the rectangle of its first
// frame on the logical screen and the screen's background colour from the
// global colour table. ok is false for data that is not a GIF or has no
// global colour table.
//
// libvips paints the screen outside a first frame that does not cover it
// transparent, which becomes black once alpha is dropped; Pillow (and so
// every model trained on Pillow-loaded GIFs) shows the background colour
// there. The fields read are those of the GIF89a specification, sections
// 18 (logical screen descriptor), 19 (global colour table), 20 (image
// descriptor) and 23–26 (extensions, skipped sub-block by sub-block).
func gifFirstFrame(data []byte) (frame image.Rectangle, bg [3]byte, ok bool) {
	if len(data) < 13 || string(data[:3]) != "GIF" {
		return frame, bg, false
	}
	packed, bgIndex := data[10], int(data[11])
	if packed&0x80 == 0 {
		return frame, bg, false
	}
	tableLen := 3 << (packed&7 + 1)
	pos := 13
	if pos+tableLen > len(data) || 3*bgIndex+3 > tableLen {
		return frame, bg, false
	}
	copy(bg[:], data[pos+3*bgIndex:])
	pos += tableLen
	for pos < len(data) {
		switch data[pos] {
		case 0x21: // extension: label, then sub-blocks up to a zero length
			pos += 2
			for pos < len(data) && data[pos] != 0 {
				pos += 1 + int(data[pos])
			}
			pos++
		case 0x2C: // image descriptor
			if pos+9 > len(data) {
				return frame, bg, false
			}
			le := binary.LittleEndian
			x, y := int(le.Uint16(data[pos+1:])), int(le.Uint16(data[pos+3:]))
			w, h := int(le.Uint16(data[pos+5:])), int(le.Uint16(data[pos+7:]))
			return image.Rect(x, y, x+w, y+h), bg, true
		default:
			return frame, bg, false
		}
	}
	return frame, bg, false
}

// fillOutside paints every pixel of m outside r with c.
func fillOutside(m *Image, r image.Rectangle, c [3]byte) {
	r = r.Intersect(image.Rect(0, 0, m.Width, m.Height))
	for y := range m.Height {
		row := m.Pix[3*m.Width*y : 3*m.Width*(y+1)]
		for x := range m.Width {
			if !(image.Point{x, y}).In(r) {
				copy(row[3*x:3*x+3], c[:])
			}
		}
	}
}

// The C half of package vips: one call that decodes an encoded image into
// interleaved 8-bit RGB, so that Go crosses into libvips once per image.
#ifndef TAGNET_VIPS_H
#define TAGNET_VIPS_H

#include <stddef.h>

// tn_init starts libvips once per process. It returns 0 or -1 (the reason
// is in *err, to be freed with tn_free).
int tn_init(char **err);

// tn_return_freed_memory fixes glibc's mmap threshold at 128 KiB for the
// whole process (a no-op elsewhere): see ReturnFreedMemory in vips.go.
void tn_return_freed_memory(void);

typedef struct {
	int width, height;   // stored size of the first page/frame, pixels
	int pages;           // frames or pages in the file (1 for still images)
	int orientation;     // EXIF orientation 1..8 (1 when absent)
	int has_icc;         // an ICC profile is embedded
	char loader[64];     // libvips loader class, e.g. "VipsForeignLoadJpegBuffer"
} tn_header;

// tn_find_loader names the libvips loader class for buf[0:len] from its
// first bytes (a static string), or NULL when none recognises it.
const char *tn_find_loader(const void *buf, size_t len);

// tn_read_header reads the header of buf[0:len], which loader recognised,
// without decoding pixels.
int tn_read_header(const void *buf, size_t len, const char *loader, tn_header *h, char **err);

typedef struct {
	int shrink;      // JPEG DCT scale denominator: 1, 2, 4 or 8
	int autorotate;  // apply EXIF orientation
	int to_srgb;     // convert through an embedded ICC profile to sRGB
	int fail_on;     // VipsFailOn: what damage makes decoding fail
} tn_options;

typedef struct {
	unsigned char *pix; // width*height*3 bytes: free with tn_free_pixels
	int width, height;
} tn_image;

// tn_decode decodes buf[0:len] with the loader the header named.
int tn_decode(const void *buf, size_t len, const char *loader, const tn_options *o, tn_image *out, char **err);

void tn_free(void *p);
void tn_free_pixels(void *p);

#endif

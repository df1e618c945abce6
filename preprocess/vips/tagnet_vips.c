#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <vips/vips.h>

#include "tagnet_vips.h"

// take_error moves libvips' error buffer into a malloc'd string and clears
// it. The buffer is process-wide, so under concurrency a message may carry
// text from another failing call as well; it never loses its own.
static int take_error(char **err, const char *fallback) {
	const char *msg = vips_error_buffer();
	if (msg == NULL || msg[0] == '\0') {
		msg = fallback;
	}
	*err = strdup(msg);
	vips_error_clear();
	return -1;
}

// quiet drops libvips' and GLib's warnings (a JPEG with stray bytes, an
// unknown TIFF tag): damage that matters fails the decode through fail_on,
// and the rest must not reach the process's stderr.
static void quiet(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data) {
	(void)domain; (void)level; (void)msg; (void)data;
}

void tn_return_freed_memory(void) {
#ifdef __GLIBC__
	// Image-sized buffers (libvips' decodes, ONNX Runtime's model loading
	// and activations) go back to the system when freed. glibc otherwise
	// raises its mmap threshold after the first large free and keeps
	// later ones in the heap: a ResNet-50 predictor peaked at 0.55 GB RSS
	// that way and at 0.37 GB with the threshold fixed, at the same speed.
	// Setting it also fixes the trim threshold (mallopt(3)).
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

int tn_init(char **err) {
	if (VIPS_INIT("tagnet")) {
		return take_error(err, "vips_init failed");
	}
	// Go runs one decode per worker goroutine; libvips' own threads would
	// only oversubscribe the cores.
	vips_concurrency_set(1);
	// Nothing is cached between calls: the caller's buffer must not be
	// referenced after tn_decode returns, and memory stays bounded.
	vips_cache_set_max(0);
	vips_cache_set_max_mem(0);
	vips_cache_set_max_files(0);
	// Only the loaders of the formats tagnet reads may run; the rest
	// (PDF, SVG, ImageMagick's hundreds of coders, ...) are refused even
	// when a file sniffs as one of them. magickload is re-enabled for BMP
	// only, by the Go side, which checks the BM signature first.
	vips_operation_block_set("VipsForeignLoad", TRUE);
	vips_operation_block_set("VipsForeignLoadJpeg", FALSE);
	vips_operation_block_set("VipsForeignLoadPng", FALSE);
	vips_operation_block_set("VipsForeignLoadWebp", FALSE);
	vips_operation_block_set("VipsForeignLoadNsgif", FALSE);
	vips_operation_block_set("VipsForeignLoadTiff", FALSE);
	vips_operation_block_set("VipsForeignLoadHeif", FALSE);
	vips_operation_block_set("VipsForeignLoadMagick", FALSE);
	g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG, quiet, NULL);
	g_log_set_handler("GLib-GObject", G_LOG_LEVEL_WARNING, quiet, NULL);
	return 0;
}

void tn_free(void *p) { free(p); }

void tn_free_pixels(void *p) { g_free(p); }

const char *tn_find_loader(const void *buf, size_t len) {
	const char *loader = vips_foreign_find_load_buffer(buf, len);
	if (loader == NULL) {
		vips_error_clear();
	}
	return loader;
}

int tn_read_header(const void *buf, size_t len, const char *loader, tn_header *h, char **err) {
	VipsImage *im = vips_image_new_from_buffer(buf, len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
	if (im == NULL) {
		return take_error(err, "reading header");
	}
	memset(h, 0, sizeof *h);
	h->width = vips_image_get_width(im);
	h->height = vips_image_get_page_height(im);
	h->pages = vips_image_get_n_pages(im);
	h->orientation = vips_image_get_orientation(im);
	h->has_icc = vips_image_get_typeof(im, VIPS_META_ICC_NAME) != 0;
	strncpy(h->loader, loader, sizeof h->loader - 1);
	g_object_unref(im);
	return 0;
}

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

// load opens the first page or frame with the options its loader takes.
static VipsImage *load(const void *buf, size_t len, const char *loader, const tn_options *o) {
	if (has_prefix(loader, "VipsForeignLoadJpeg")) {
		return vips_image_new_from_buffer(buf, len, "", "access", VIPS_ACCESS_SEQUENTIAL,
			"fail_on", o->fail_on, "shrink", o->shrink, NULL);
	}
	if (has_prefix(loader, "VipsForeignLoadMagick")) {
		return vips_image_new_from_buffer(buf, len, "", "access", VIPS_ACCESS_SEQUENTIAL,
			"fail_on", o->fail_on, "n", 1, NULL);
	}
	// gif, webp, tiff, heif: page 0 only (the default), composited on its
	// screen for GIF and animated WebP.
	return vips_image_new_from_buffer(buf, len, "", "access", VIPS_ACCESS_SEQUENTIAL,
		"fail_on", o->fail_on, NULL);
}

// step replaces *im by *out when the operation that wrote *out succeeded
// (rc 0) and reports failure, so the pipeline below reads as a list. out
// is read through its address: C leaves the order in which arguments are
// evaluated open, and rc's operation writes *out.
static int step(VipsImage **im, int rc, VipsImage **out) {
	if (rc != 0) {
		return -1;
	}
	g_object_unref(*im);
	*im = *out;
	*out = NULL;
	return 0;
}

int tn_decode(const void *buf, size_t len, const char *loader, const tn_options *o, tn_image *res, char **err) {
	VipsImage *im = load(buf, len, loader, o);
	VipsImage *out = NULL;
	if (im == NULL) {
		return take_error(err, "decoding");
	}
	if (o->autorotate && vips_image_get_orientation(im) > 1) {
		if (step(&im, vips_autorot(im, &out, NULL), &out)) goto fail;
	}
	// CMYK goes through its embedded profile when colour is managed;
	// otherwise (no profile, or as-is) through Pillow's formula below, as
	// every Pillow-based pipeline sees it. A profile lcms cannot use leaves
	// the stored values, as a viewer would.
	int naive_cmyk = 0;
	if (o->to_srgb && vips_image_get_typeof(im, VIPS_META_ICC_NAME)) {
		if (vips_icc_transform(im, &out, "srgb", "embedded", TRUE,
			"intent", VIPS_INTENT_RELATIVE, "depth", 8, NULL) == 0) {
			step(&im, 0, &out);
		} else {
			vips_error_clear();
		}
	}
	if (vips_image_get_interpretation(im) == VIPS_INTERPRETATION_CMYK &&
	    vips_image_get_bands(im) >= 4 && vips_image_get_format(im) == VIPS_FORMAT_UCHAR) {
		naive_cmyk = 1;
		if (vips_image_get_bands(im) > 4) {
			if (step(&im, vips_extract_band(im, &out, 0, "n", 4, NULL), &out)) goto fail;
		}
	}
	// Grey, 16-bit and the other interpretations to 8-bit sRGB; bands
	// beyond the colour ones (alpha) are carried along and dropped next.
	if (!naive_cmyk && (vips_image_get_interpretation(im) != VIPS_INTERPRETATION_sRGB ||
	    vips_image_get_format(im) != VIPS_FORMAT_UCHAR)) {
		if (vips_colourspace_issupported(im)) {
			if (step(&im, vips_colourspace(im, &out, VIPS_INTERPRETATION_sRGB, NULL), &out)) goto fail;
		} else if (vips_image_get_bands(im) < 3) {
			// An uninterpreted one- or two-band image: the first band is grey.
			VipsImage *grey[3];
			if (vips_extract_band(im, &grey[0], 0, NULL)) goto fail;
			grey[1] = grey[2] = grey[0];
			int rc = vips_bandjoin(grey, &out, 3, NULL);
			g_object_unref(grey[0]);
			if (step(&im, rc, &out)) goto fail;
		}
	}
	if (vips_image_get_bands(im) < 3) {
		g_object_unref(im);
		*err = strdup("image has fewer than three colour bands after conversion");
		return -1;
	}
	if (!naive_cmyk && vips_image_get_bands(im) > 3) {
		// Alpha dropped, the stored colour kept (Pillow's convert("RGB")).
		if (step(&im, vips_extract_band(im, &out, 0, "n", 3, NULL), &out)) goto fail;
	}
	if (vips_image_get_format(im) != VIPS_FORMAT_UCHAR) {
		if (step(&im, vips_cast_uchar(im, &out, NULL), &out)) goto fail;
	}
	size_t n = 0;
	unsigned char *pix = vips_image_write_to_memory(im, &n);
	if (pix == NULL) goto fail;
	res->width = vips_image_get_width(im);
	res->height = vips_image_get_height(im);
	size_t npix = (size_t)res->width * res->height;
	if (n != npix * (naive_cmyk ? 4 : 3)) {
		g_free(pix);
		g_object_unref(im);
		*err = strdup("decoder returned an unexpected pixel layout");
		return -1;
	}
	if (naive_cmyk) {
		// Pillow's cmyk2rgb: each of R, G, B = (255−K) − (C|M|Y)·(255−K)/255,
		// with its rounding MULDIV255(a, b) = ((a·b+128)>>8 + a·b+128)>>8.
		for (size_t i = 0; i < npix; i++) {
			const unsigned char *in = pix + 4 * i;
			unsigned char *o3 = pix + 3 * i; // never ahead of in
			int nk = 255 - in[3];
			int c = in[0], m = in[1], y = in[2];
			int t;
			t = c * nk + 128; o3[0] = (unsigned char)(nk - (((t >> 8) + t) >> 8));
			t = m * nk + 128; o3[1] = (unsigned char)(nk - (((t >> 8) + t) >> 8));
			t = y * nk + 128; o3[2] = (unsigned char)(nk - (((t >> 8) + t) >> 8));
		}
	}
	res->pix = pix;
	g_object_unref(im);
	return 0;
fail:
	g_object_unref(im);
	return take_error(err, "decoding");
}

#!/usr/bin/python3
"""Regenerates the Pillow reference files in this folder.

Run from this folder with Debian's python3-pil and python3-numpy:

    /usr/bin/python3 gen_golden.py ../../.native/photos/dog.jpg

The source photograph is dog.jpg from Debian's darknet package (Joseph
Redmon, MIT licence among GPL-3.0+/MIT/WTFPL); scripts/setup.sh fetches it.
Every expected output here is what Pillow computes, so the Go tests check
tagnet's preprocessing against Pillow (and so against fastai/torchvision).
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
from PIL import Image, ImageOps

BILINEAR, BICUBIC = Image.Resampling.BILINEAR, Image.Resampling.BICUBIC


def main(photo):
    full = Image.open(photo).convert("RGB")
    src = full.crop((120, 220, 320, 370))  # 200x150, the dog's head
    src.save("dog.png")
    src.save("dog.jpg", quality=90, subsampling=2)  # 4:2:0, as most photos

    # JPEG layouts, each with Pillow's (libjpeg-turbo's) decoding beside it.
    odd = full.crop((120, 220, 321, 371))  # 201x151: odd chroma edges
    odd.save("jpeg-420-odd.jpg", quality=90, subsampling=2)
    odd.save("jpeg-422-odd.jpg", quality=90, subsampling=1)
    odd.save("jpeg-444.jpg", quality=90, subsampling=0)
    odd.save("jpeg-progressive.jpg", quality=85, subsampling=2, progressive=True)
    odd.convert("L").save("jpeg-gray.jpg", quality=90)
    full.crop((200, 300, 204, 305)).save("jpeg-420-narrow.jpg", quality=90, subsampling=2)  # chroma 2 wide
    full.crop((200, 300, 205, 305)).save("jpeg-420-small.jpg", quality=90, subsampling=2)  # chroma 3 wide
    for f in ["dog.jpg", "jpeg-420-odd.jpg", "jpeg-422-odd.jpg", "jpeg-444.jpg", "jpeg-progressive.jpg",
              "jpeg-gray.jpg", "jpeg-420-narrow.jpg", "jpeg-420-small.jpg"]:
        Image.open(f).convert("RGB").save(f.replace(".", "-") + "-pillow.png")

    cases = []

    def shorter(img_size, s):  # torchvision's Resize(int) arithmetic
        w, h = img_size
        return (s, int(s * h / w)) if w <= h else (int(s * w / h), s)

    def full_case(name, source, width, height, mode, rw, rh, interp, draft=False):
        img = Image.open(source)
        if draft:  # shrink-on-load: JPEG decoded at the DCT scale Pillow picks
            img.draft("RGB", (rw, rh) if mode == "squish" else shorter(img.size, rw))
        img = img.convert("RGB")
        size = (rw, rh) if mode == "squish" else shorter(img.size, rw)
        res = img.resize(size, interp)
        left, top = (size[0] - width) // 2, (size[1] - height) // 2
        res.crop((left, top, left + width, top + height)).save(name + ".png")
        spec = {"width": width, "height": height, "resize_mode": mode,
                "interpolation": "bilinear" if interp == BILINEAR else "bicubic"}
        if mode == "squish":
            spec.update(resize_width=rw, resize_height=rh)
        else:
            spec.update(resize_shorter=rw)
        case = {"name": name, "source": source, "spec": spec}
        if draft:
            case["draft"] = True
        cases.append(case)

    def region_case(name, box, width, height, interp):
        img = Image.open("dog.png").convert("RGB")
        img.crop(box).resize((width, height), interp).save(name + ".png")
        cases.append({"name": name, "source": "dog.png", "region": list(box),
                      "spec": {"width": width, "height": height, "resize_mode": "squish",
                               "resize_width": width, "resize_height": height,
                               "interpolation": "bilinear" if interp == BILINEAR else "bicubic"}})

    xtra = math.ceil(128 * 0.14 / 8) * 8
    full_case("golden-fastai-valid-128", "dog.png", 128, 128, "squish", 128 + xtra, 128 + xtra, BILINEAR)
    full_case("golden-squish-nonsquare", "dog.png", 96, 48, "squish", 100, 60, BILINEAR)
    full_case("golden-shorter-bicubic", "dog.png", 80, 80, "shorter_side", 96, 0, BICUBIC)
    full_case("golden-jpeg-fastai-valid-128", "dog.jpg", 128, 128, "squish", 128 + xtra, 128 + xtra, BILINEAR)
    # Shrink-on-load (Image.draft) on a whole 768x576 photograph.
    Image.open(photo).convert("RGB").save("draft.jpg", quality=90, subsampling=2)
    full_case("golden-draft-fastai-valid-128", "draft.jpg", 128, 128, "squish", 152, 152, BILINEAR, draft=True)  # 1/2
    full_case("golden-draft-fastai-valid-64", "draft.jpg", 64, 64, "squish", 72, 72, BILINEAR, draft=True)  # 1/8
    full_case("golden-draft-torchvision-224", "draft.jpg", 224, 224, "shorter_side", 256, 0, BILINEAR, draft=True)  # 1/2
    full_case("golden-draft-torchvision-112", "draft.jpg", 112, 112, "shorter_side", 128, 0, BICUBIC, draft=True)  # 1/4
    region_case("golden-region-bilinear", (30, 20, 150, 110), 64, 64, BILINEAR)
    region_case("golden-region-upscale", (10, 10, 40, 30), 64, 64, BILINEAR)
    region_case("golden-region-bicubic-upscale", (50, 40, 90, 70), 96, 96, BICUBIC)

    with open("golden.json", "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")

    # Formats: lossless files whose pixels Pillow's convert("RGB") gives
    # exactly; the Go decoder must give the same bytes.
    small = src.crop((60, 40, 124, 88))  # 64x48
    small.save("format.webp", lossless=True)
    small.save("format.bmp")
    small.save("format.tiff")
    small.convert("L").save("format-gray.png")
    small.quantize(64).save("format.gif")
    alpha = small.copy()
    alpha.putalpha(Image.linear_gradient("L").resize(small.size))
    alpha.save("format-alpha.png")  # RGBA with every alpha from 0 to 255
    for f in ["format.webp", "format.bmp", "format.tiff", "format-gray.png", "format.gif", "format-alpha.png"]:
        Image.open(f).convert("RGB").save(f.replace(".", "-") + "-pillow.png")

    # EXIF orientation: the upright picture has four coloured quadrants; the
    # file stores it transformed so that the tag turns it upright again.
    up = np.zeros((32, 64, 3), np.uint8)
    up[:16, :32] = (220, 30, 30)
    up[:16, 32:] = (30, 200, 40)
    up[16:, :32] = (40, 40, 210)
    up[16:, 32:] = (230, 220, 40)
    upright = Image.fromarray(up)
    upright.save("orient-upright.png")
    inverse = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
               4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
               6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
               8: Image.Transpose.ROTATE_270}
    for o, op in inverse.items():
        stored = upright if op is None else upright.transpose(op)
        exif = Image.Exif()
        exif[0x0112] = o
        name = f"orient-{o}.jpg"
        stored.save(name, quality=95, subsampling=0, exif=exif.tobytes())
        back = np.asarray(ImageOps.exif_transpose(Image.open(name)).convert("RGB"), np.int16)
        assert back.shape == up.shape and np.abs(back - up).max() < 12, (o, np.abs(back - up).max())


def formats(src):
    """Files in the formats phones and cameras write, each beside Pillow's
    convert("RGB") of it (HEIC and AVIF, which Pillow 9.4 cannot read, are
    compared with the lossless picture they were encoded from)."""
    img = Image.open(src).convert("RGB")
    rgba = Image.open("format-alpha.png")

    def pillow_ref(name):
        Image.open(name).convert("RGB").save(name.replace(".", "-") + "-pillow.png")

    img.save("format-tmp.png")
    subprocess.run(["heif-enc", "-q", "95", "-o", "format.heic", "format-tmp.png"], check=True)
    subprocess.run(["heif-enc", "-A", "-q", "95", "-o", "format.avif", "format-tmp.png"], check=True)
    # An animated WebP (two frames): tagnet reads the first.
    img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save("format-tmp2.png")
    subprocess.run(["img2webp", "-lossless", "format-tmp.png", "-lossy", "format-tmp2.png",
                    "-o", "format-animated.webp"], check=True, capture_output=True)
    pillow_ref("format-animated.webp")
    # Lossy WebP with an alpha channel.
    subprocess.run(["cwebp", "-quiet", "-q", "90", "-exact", "format-alpha.png", "-o", "format-lossy-alpha.webp"], check=True)
    pillow_ref("format-lossy-alpha.webp")
    # Interlaced (Adam7) and 16-bit PNG, written by libvips.
    subprocess.run(["vips", "pngsave", "format-tmp.png", "format-interlaced.png", "--interlace"], check=True)
    pillow_ref("format-interlaced.png")
    subprocess.run(["vips", "colourspace", "format-tmp.png", "format-16bit.png", "rgb16"], check=True)
    pillow_ref("format-16bit.png")
    img.quantize(64).save("format-palette.png")
    pillow_ref("format-palette.png")
    # A CMYK JPEG with Adobe's APP14 marker (inverted CMYK), as Photoshop writes.
    img.convert("CMYK").save("format-cmyk-adobe.jpg", quality=95)
    pillow_ref("format-cmyk-adobe.jpg")
    for f in ["format-tmp.png", "format-tmp2.png"]:
        os.remove(f)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--formats"]:
        formats("dog.png")
        sys.exit(0)
    main(sys.argv[1])

"""Images for emails: uploaded, checked and re-encoded with Pillow, kept in the data folder.

An upload is trusted for nothing: its type is read from the bytes (Pillow), not from the name
or the browser's Content-Type; only PNG, JPEG, GIF and WebP pass. The pixel count is checked
from the header before anything is decoded (decompression bombs), then the image is decoded and
written anew, which leaves EXIF, XMP, comments and text chunks behind. JPEGs are turned upright
by their EXIF orientation first, since the tag that said how goes. GIFs and WebPs keep their
animation (frames, durations, loop); the colour profile (ICC) is kept, as it changes how the
picture looks and says nothing about who took it.

Files go to ``<data>/media/<workspace id>/<random>.<ext>`` and are served by ``serve`` at
``/media/…`` (mounted on the Starlette front, no session, no database) with a year of caching:
a name is never reused, so a file never changes. Emails refer to them by absolute URL under
``TERMINFLOW_BASE_URL``.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _
from PIL import Image as Pillow
from PIL import ImageOps, UnidentifiedImageError
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from terminflow.kit import clock
from terminflow.kit.errors import Unprocessable

from .models import Image

FORMATS = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
CONTENT_TYPES = {extension: content_type for content_type, extension in FORMATS.values()}
MAX_FRAMES = 500
CACHE_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    # An image opened on its own can run nothing, whatever a browser makes of it.
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class ImageRefused(Unprocessable):
    code = "image_refused"


def media_root() -> Path:
    return Path(settings.DATA_DIR) / "media"


def url(image: Image) -> str:
    """The image's absolute public URL, as emails refer to it."""
    return f"{settings.BASE_URL}/media/{image.path}"


@dataclass(frozen=True)
class _Encoded:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def _save_options(source: Any, kind: str, frames: int) -> dict[str, Any]:
    options: dict[str, Any] = {}
    icc = source.info.get("icc_profile")
    if icc and kind != "GIF":
        options["icc_profile"] = icc
    if kind == "JPEG":
        options.update(quality=85, optimize=True, progressive=True)
    elif kind == "WEBP":
        options.update(quality=85, method=4)
    if frames > 1:
        options.update(save_all=True, loop=source.info.get("loop", 0))
        if "duration" in source.info:
            options["duration"] = source.info["duration"]
    return options


def reencode(data: bytes) -> _Encoded:
    """The image written anew without metadata; raises ``ImageRefused`` (422) with the reason."""
    try:
        with Pillow.open(io.BytesIO(data)) as source:
            kind = source.format or ""
            if kind not in FORMATS:
                raise ImageRefused(_("Only PNG, JPEG, GIF and WebP images can be uploaded."))
            width, height = source.size
            frames = getattr(source, "n_frames", 1) if kind in ("GIF", "WEBP") else 1
            if width * height * min(frames, MAX_FRAMES) > settings.IMAGE_MAX_PIXELS or (
                frames > MAX_FRAMES
            ):
                raise ImageRefused(
                    _("The image has too many pixels: at most %(pixels)s (width × height)."),
                    pixels=number_format(settings.IMAGE_MAX_PIXELS, force_grouping=True),
                    code="image_too_many_pixels",
                )
            options = _save_options(source, kind, frames)
            image: Pillow.Image = source
            if kind == "JPEG":
                image = ImageOps.exif_transpose(source)
                if image.mode not in ("RGB", "L"):
                    image = image.convert("RGB")
            elif kind in ("PNG", "WEBP") and frames == 1:
                image.load()
            # Pillow copies none of these into the new file unless asked to; cleared anyway so
            # no future default brings them back.
            for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment", "photoshop"):
                image.info.pop(key, None)
            out = io.BytesIO()
            image.save(out, format=kind, **options)
            size = image.size
    except ImageRefused:
        raise
    except (UnidentifiedImageError, Pillow.DecompressionBombError, OSError, ValueError):
        raise ImageRefused(
            _("The file is not an image that can be read (PNG, JPEG, GIF or WebP).")
        ) from None
    content_type, extension = FORMATS[kind]
    return _Encoded(out.getvalue(), content_type, extension, size[0], size[1])


def _display_name(name: str) -> str:
    base = PurePosixPath((name or "").replace("\\", "/")).name.strip()
    return "".join(ch for ch in base if ch.isprintable())[:200] or "image"


def store(workspace: Any, name: str, data: bytes) -> Image:
    """Check, re-encode and keep an uploaded image; nothing is kept when it is refused.

    The slow part (decoding, encoding, writing) happens before the one INSERT, outside any
    transaction; a failed INSERT removes the file again.
    """
    if len(data) > settings.IMAGE_MAX_BYTES:
        raise too_large()
    encoded = reencode(data)
    folder = media_root() / str(workspace.pk)
    folder.mkdir(parents=True, exist_ok=True)
    relative = f"{workspace.pk}/{secrets.token_urlsafe(18)}.{encoded.extension}"
    target = media_root() / relative
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(encoded.data)
    partial.replace(target)
    try:
        return Image.objects.create(
            workspace=workspace,
            name=_display_name(name),
            path=relative,
            content_type=encoded.content_type,
            size=len(encoded.data),
            width=encoded.width,
            height=encoded.height,
            created_at=clock.now(),
        )
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def too_large() -> ImageRefused:
    return ImageRefused(
        _("The image is larger than %(size)s."),
        size=filesizeformat(settings.IMAGE_MAX_BYTES),
        code="image_too_large",
    )


def list_images(workspace: Any, *, limit: int = 200) -> list[Image]:
    """The workspace's images, newest first."""
    return list(Image.objects.filter(workspace=workspace).order_by("-id")[: max(1, limit)])


def file_for(path: str) -> tuple[Path, str] | None:
    """The file behind ``<workspace id>/<name>.<ext>``; None for anything else."""
    folder, _slash, filename = path.partition("/")
    stem, _dot, extension = filename.rpartition(".")
    if not (folder.isdigit() and folder.isascii()) or extension not in CONTENT_TYPES:
        return None
    if not stem or not set(stem) <= _NAME_CHARACTERS or len(stem) > 64:
        return None
    return media_root() / folder / filename, CONTENT_TYPES[extension]


async def serve(request: Request) -> Response:
    """``GET /media/<workspace id>/<name>.<ext>``: the file, cached for a year; else 404."""
    found = file_for(request.path_params["path"])
    if found is None or not found[0].is_file():
        return PlainTextResponse("Not Found", status_code=404)
    path, content_type = found
    return FileResponse(path, media_type=content_type, headers=CACHE_HEADERS)

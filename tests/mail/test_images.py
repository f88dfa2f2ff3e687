"""Images for emails: upload (type sniffed, size and pixels capped, metadata stripped), listing
sealed per workspace, and serving under /media/ with long caching."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from PIL import Image as Pillow

from terminflow.mail import images
from terminflow.mail.models import Image
from terminflow.workspaces.models import Workspace
from tests.conftest import ApiClient, make_workspace


def picture(kind: str = "JPEG", size: tuple[int, int] = (64, 48), **save: Any) -> bytes:
    image = Pillow.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    image.save(out, format=kind, **save)
    return out.getvalue()


def exif_with_camera_and_gps() -> Pillow.Exif:
    exif = Pillow.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "EOS 5D"  # Model
    exif[0x8825] = {1: "N", 2: (47.0, 22.0, 1.0)}  # GPS
    return exif


def upload(api: ApiClient, data: bytes, name: str = "foto.jpg", content_type: str = "image/jpeg"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return api._client.post(
        "/api/v1/images",
        {"file": SimpleUploadedFile(name, data, content_type=content_type)},
    )


def stored_files() -> list[Path]:
    root = images.media_root()
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def media(tmp_path: Path, settings: Any) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path / "media"


pytestmark = pytest.mark.django_db


def test_a_jpeg_is_stored_without_its_exif_and_served_by_absolute_url(
    api: ApiClient, workspace: Workspace, media: Path
) -> None:
    original = picture(exif=exif_with_camera_and_gps().tobytes())
    assert b"Canon" in original

    response = upload(api, original, name="../../Praxis Logo.jpg")

    assert response.status_code == 201
    body = response.json()
    row = Image.objects.get(pk=body["id"])
    assert (body["name"], body["content_type"], body["width"], body["height"]) == (
        "Praxis Logo.jpg",
        "image/jpeg",
        64,
        48,
    )
    assert body["url"] == f"http://testserver/media/{row.path}"
    assert row.path.startswith(f"{workspace.pk}/") and row.path.endswith(".jpg")
    assert len(row.path.split("/")[1]) == len("x" * 24 + ".jpg")
    [path] = stored_files()
    kept = path.read_bytes()
    assert body["size"] == len(kept) == row.size
    assert b"Canon" not in kept and b"Exif" not in kept
    with Pillow.open(io.BytesIO(kept)) as again:
        assert again.format == "JPEG"
        assert dict(again.getexif()) == {}


def test_png_text_chunks_are_dropped_and_animated_gifs_keep_their_frames(
    api: ApiClient, media: Path
) -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Dr. Geheim")
    png = picture("PNG", pnginfo=info)
    frames = [
        Pillow.new("RGB", (20, 20), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))
    ]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)

    first = upload(api, png, "bild.png", "image/png")
    second = upload(api, gif.getvalue(), "anim.gif", "image/gif")

    assert first.status_code == second.status_code == 201
    kept_png = (images.media_root() / Image.objects.get(pk=first.json()["id"]).path).read_bytes()
    assert b"Dr. Geheim" not in kept_png
    with Pillow.open(images.media_root() / Image.objects.get(pk=second.json()["id"]).path) as g:
        assert (g.format, g.n_frames) == ("GIF", 3)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "x.png"),
        (b"%PDF-1.4 not an image", "bild.jpg"),
        (picture("BMP"), "bild.png"),
        (picture("JPEG")[:100], "kaputt.jpg"),
    ],
)
def test_files_that_are_no_allowed_image_are_refused_and_nothing_is_kept(
    api: ApiClient, media: Path, data: bytes, name: str
) -> None:
    response = upload(api, data, name)

    assert response.status_code == 422
    assert response.json()["code"] == "image_refused"
    assert response.json()["detail"] in (
        "Only PNG, JPEG, GIF and WebP images can be uploaded.",
        "The file is not an image that can be read (PNG, JPEG, GIF or WebP).",
    )
    assert Image.objects.count() == 0
    assert stored_files() == []


def test_a_bmp_is_refused_with_a_german_message(workspace: Workspace, media: Path) -> None:
    response = upload(ApiClient(workspace, language="de"), picture("BMP"), "bild.bmp")

    assert response.status_code == 422
    assert response.json()["detail"] in (
        "Nur PNG-, JPEG-, GIF- und WebP-Bilder können hochgeladen werden.",
    )


def test_too_many_bytes_or_pixels_are_refused_and_nothing_is_kept(
    api: ApiClient, media: Path, settings: Any
) -> None:
    settings.IMAGE_MAX_BYTES = 2_000
    noisy = Pillow.frombytes("RGB", (60, 60), os.urandom(60 * 60 * 3))
    out = io.BytesIO()
    noisy.save(out, "PNG")
    assert len(out.getvalue()) > 2_000

    too_big = upload(api, out.getvalue(), "gross.png")
    settings.IMAGE_MAX_BYTES = 5_000_000
    settings.IMAGE_MAX_PIXELS = 10_000
    too_many = upload(api, picture("PNG", size=(101, 100)), "breit.png")

    assert (too_big.status_code, too_big.json()["code"]) == (422, "image_too_large")
    assert too_big.json()["detail"] == "The image is larger than 2.0\xa0KB."
    assert (too_many.status_code, too_many.json()["detail"]) == (
        422,
        "The image has too many pixels: at most 10,000 (width × height).",
    )
    assert Image.objects.count() == 0
    assert stored_files() == []


def test_the_image_list_is_sealed_per_workspace(api: ApiClient, media: Path) -> None:
    other = make_workspace("Zahnarzt Oerlikon")
    theirs = ApiClient(other)
    upload(theirs, picture(), "fremd.jpg")
    upload(api, picture(), "eigen.jpg")

    mine = api.get("/api/v1/images").json()
    listed = theirs.get("/api/v1/images").json()

    assert [i["name"] for i in mine] == ["eigen.jpg"]
    assert [i["name"] for i in listed] == ["fremd.jpg"]


def test_viewers_cannot_upload(workspace: Workspace, media: Path) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.web.conftest import logged_in, make_user

    viewer = logged_in(make_user("viewer@praxis.example", workspace, "viewer"))
    response = viewer.post(
        "/api/v1/images", {"file": SimpleUploadedFile("a.jpg", picture(), "image/jpeg")}
    )

    assert response.status_code in (401, 403)
    assert Image.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_images_are_served_with_long_caching_and_nosniff(
    workspace: Workspace, media: Path, terminflow_front: Any
) -> None:
    api = ApiClient(workspace)
    body = upload(api, picture("PNG"), "logo.png", "image/png").json()
    path = body["url"].removeprefix("http://testserver")

    response = httpx.get(terminflow_front.url + path)
    missing = httpx.get(terminflow_front.url + path.replace(".png", ".gif"))
    traversal = httpx.get(terminflow_front.url + "/media/1/..%2F..%2Fsecret_key")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in response.headers
    assert (
        response.content
        == (settings.DATA_DIR / "media" / path.removeprefix("/media/")).read_bytes()
    )
    assert (missing.status_code, traversal.status_code) == (404, 404)

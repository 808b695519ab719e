"""Avatars: an upload checked by Pillow, made a square JPEG and stored
through Django's storage API (default_storage), or, for everyone without
one, a generated SVG of their initials on a colour of their own."""

import hashlib
import io
import uuid
import warnings

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.html import escape
from PIL import Image, ImageOps, UnidentifiedImageError

from users.models import User

FORMATS = {"JPEG", "PNG", "GIF", "WEBP"}
JPEG_QUALITY = 85
NOT_AN_IMAGE = "Upload an image: JPEG, PNG, GIF or WebP."


def _square_jpeg(upload) -> bytes:
    """The upload as a AVATAR_SIZE_PX square JPEG, cropped to its centre,
    with no metadata (EXIF, GPS, comments: nothing is copied over). Raises
    ValidationError({"avatar": ...}) for anything else."""
    if upload.size > settings.AVATAR_MAX_BYTES:
        raise ValidationError({"avatar": f"The image is over {settings.AVATAR_MAX_BYTES // (1024 * 1024)} MB."})
    side = settings.AVATAR_SIZE_PX
    try:
        # Pillow warns past Image.MAX_IMAGE_PIXELS and refuses twice that
        # (DecompressionBombError) when it reads the header; the warning is
        # made an error too, and a smaller bound of our own comes next.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(upload)
            if image.format not in FORMATS:
                raise ValidationError({"avatar": NOT_AN_IMAGE})
            width, height = image.size
            if width * height > settings.AVATAR_MAX_PIXELS:
                raise ValidationError({"avatar": "The image has too many pixels."})
            image.draft("RGB", (side, side))  # a JPEG decodes at a fraction of its size
            image.load()
            image = ImageOps.exif_transpose(image)  # its orientation, before EXIF goes
            if image.mode != "RGB":
                image = _on_white(image)
            square = ImageOps.fit(image, (side, side), Image.Resampling.LANCZOS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValidationError({"avatar": "The image has too many pixels."}) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # Not an image, a truncated or corrupt one, or a mode JPEG cannot hold.
        raise ValidationError({"avatar": NOT_AN_IMAGE}) from exc
    out = io.BytesIO()
    square.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def _on_white(image: Image.Image) -> Image.Image:
    """Any mode as RGB, transparency flattened onto white."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _discard_on_commit(name: str) -> None:
    if name:
        transaction.on_commit(lambda: default_storage.delete(name))


@transaction.atomic
def avatar_set(*, user: User, upload) -> User:
    """Make `upload` `user`'s avatar. Everything is checked before anything is
    stored: at most AVATAR_MAX_BYTES, an image Pillow can read, at most
    AVATAR_MAX_PIXELS (decompression bombs are refused unread). The previous
    avatar's file is deleted once this commits; a failure deletes the new one."""
    content = _square_jpeg(upload)
    name = default_storage.save(f"avatars/{user.pk}/{uuid.uuid4().hex}.jpg", ContentFile(content))
    try:
        previous = User.objects.select_for_update().values_list("avatar", flat=True).get(pk=user.pk)
        User.objects.filter(pk=user.pk).update(avatar=name)
    except BaseException:
        default_storage.delete(name)
        raise
    _discard_on_commit(previous)
    user.avatar = name
    return user


@transaction.atomic
def avatar_delete(*, user: User) -> User:
    """Go back to the generated avatar; the uploaded file is deleted once
    this commits. Idempotent."""
    previous = User.objects.select_for_update().values_list("avatar", flat=True).get(pk=user.pk)
    User.objects.filter(pk=user.pk).update(avatar="")
    _discard_on_commit(previous)
    user.avatar = ""
    return user


def initials(username: str) -> str:
    """Up to two letters: of the first two parts of a snake_case name that
    begin with one (`grace_1906` is G, not G1), else its first character."""
    parts = [part for part in username.split("_") if part] or [username]
    worded = [part for part in parts if part[0].isalpha()][:2] or parts[:1]
    return "".join(part[0] for part in worded).upper()


def default_svg(username: str) -> str:
    """The generated avatar: initials in white on a colour from a hash of the
    name (any case: one person, one colour), dark enough for WCAG AA."""
    digest = hashlib.sha256(username.lower().encode()).digest()
    hue = int.from_bytes(digest[:2], "big") % 360
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">'
        f'<rect width="64" height="64" fill="hsl({hue}, 60%, 32%)"/>'
        '<text x="32" y="32" dy="0.35em" text-anchor="middle" fill="#ffffff" '
        'font-family="system-ui, sans-serif" font-size="26" font-weight="600">'
        f"{escape(initials(username))}</text></svg>"
    )

"""Profiles: GET/PATCH /api/users/me/, PUT/DELETE /api/users/me/avatar/
(checked by Pillow, square, re-encoded, stored through default_storage and
served from the media storage; bad input a 400 naming the field with nothing
stored), the generated default avatar, and the /settings/ page."""

import io
import struct
import zlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.factories import PASSWORD, UserFactory, tweet
from users import avatars, services
from users.models import User

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "blue-lantern-harbor-42"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored(media) -> list[str]:
    return sorted(str(path.relative_to(media)) for path in media.rglob("*") if path.is_file())


def image_bytes(size=(600, 400), fmt="PNG", colour=(200, 30, 30), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt, **save)
    return out.getvalue()


def upload(content: bytes, name="me.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with a few bytes of data:
    what a decompression bomb looks like before it is decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


# --- /api/users/me/ -------------------------------------------------------------------


def test_me_reads_and_changes_the_display_name_and_bio(api_for):
    client = api_for(UserFactory(username="ada", display_name="Ada", bio=""))

    assert client.get("/api/users/me/").json()["username"] == "ada"
    response = client.patch("/api/users/me/", {"display_name": "Ada L.", "bio": "Engines."}, format="json")

    assert response.status_code == 200
    assert (response.json()["display_name"], response.json()["bio"]) == ("Ada L.", "Engines.")
    assert User.objects.filter(username="ada", display_name="Ada L.", bio="Engines.").exists()


def test_a_patch_changes_only_what_it_names(api_for):
    client = api_for(UserFactory(display_name="Kept", bio="old"))

    client.patch("/api/users/me/", {"bio": "new"}, format="json")

    assert User.objects.filter(display_name="Kept", bio="new").exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [({"bio": "x" * 161}, "bio"), ({"display_name": "x" * 51}, "display_name"), ({"bio": "a\x00b"}, "bio")],
)
def test_an_over_long_field_is_a_400_naming_it_and_nothing_changes(api_for, data, field):
    client = api_for(UserFactory(display_name="Same", bio="same"))

    response = client.patch("/api/users/me/", data, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert User.objects.filter(display_name="Same", bio="same").exists()


def test_the_service_refuses_an_over_long_bio_naming_it():
    user = UserFactory(bio="same")

    with pytest.raises(services.ValidationError) as error:
        services.user_profile_update(user=user, bio="x" * 161, display_name="fine")

    assert list(error.value.message_dict) == ["bio"]
    user.refresh_from_db()
    assert user.bio == "same"


@pytest.mark.parametrize(("method", "url"), [("get", "/api/users/me/"), ("patch", "/api/users/me/")])
def test_me_needs_a_login(api, method, url):
    assert getattr(api, method)(url, {}, format="json").status_code == 401


def test_me_is_not_a_username():
    with pytest.raises(services.ValidationError):
        services.user_create(username="Me", password=STRONG_PASSWORD)


# --- Avatars ----------------------------------------------------------------------------


def test_an_avatar_upload_is_made_a_square_jpeg_without_metadata_and_served(api_for, media, client):
    user = UserFactory()
    exif = Image.Exif()
    exif[0x010E] = "secret description"  # ImageDescription
    photo = image_bytes((800, 500), "JPEG", exif=exif.tobytes())

    response = api_for(user).put("/api/users/me/avatar/", {"avatar": upload(photo, "me.jpg")}, format="multipart")

    assert response.status_code == 200
    url = response.json()["avatar_url"]
    assert url.startswith(f"/media/avatars/{user.pk}/") and url.endswith(".jpg")
    user.refresh_from_db()
    assert stored(media) == [user.avatar]
    with default_storage.open(user.avatar) as file:
        saved = Image.open(file)
        assert (saved.format, saved.size) == ("JPEG", (256, 256))
        assert not saved.getexif()
        assert b"secret description" not in file.read()
    served = client.get(url)
    assert served.status_code == 200
    assert served["Content-Type"] == "image/jpeg"
    assert "immutable" in served["Cache-Control"]


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "WEBP"])
def test_other_image_formats_are_taken(api_for, media, fmt):
    response = api_for().put(
        "/api/users/me/avatar/", {"avatar": upload(image_bytes((300, 300), fmt), f"a.{fmt})")}, format="multipart"
    )

    assert response.status_code == 200
    assert len(stored(media)) == 1


def test_a_transparent_png_is_flattened_onto_white(media):
    user = UserFactory()
    out = io.BytesIO()
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(out, "PNG")

    avatars.avatar_set(user=user, upload=upload(out.getvalue()))

    with default_storage.open(user.avatar) as file:
        assert Image.open(file).convert("RGB").getpixel((128, 128)) >= (250, 250, 250)


def test_a_new_avatar_replaces_the_old_file_once_committed(api_for, media, django_capture_on_commit_callbacks):
    client = api_for()
    with django_capture_on_commit_callbacks(execute=True):
        client.put("/api/users/me/avatar/", {"avatar": upload(image_bytes())}, format="multipart")
    first = stored(media)

    with django_capture_on_commit_callbacks(execute=True):
        client.put("/api/users/me/avatar/", {"avatar": upload(image_bytes(colour=(0, 0, 200)))}, format="multipart")

    assert len(stored(media)) == 1
    assert stored(media) != first


def test_deleting_the_avatar_goes_back_to_the_generated_one(api_for, media, django_capture_on_commit_callbacks):
    client = api_for()
    client.put("/api/users/me/avatar/", {"avatar": upload(image_bytes())}, format="multipart")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete("/api/users/me/avatar/")

    assert response.status_code == 204
    assert stored(media) == []
    me = client.get("/api/users/me/").json()
    assert me["avatar_url"] == f"/avatars/default/{me['username']}.svg"
    assert client.delete("/api/users/me/avatar/").status_code == 204


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"just some text, not an image", "Upload an image"),
        (b"%PDF-1.4 not an image either", "Upload an image"),
        (image_bytes()[:200], "Upload an image"),  # a PNG cut short
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "Upload an image"),
        (png_claiming(100_000, 100_000), "too many pixels"),  # Pillow's DecompressionBombError
        (png_claiming(12_000, 9_000), "too many pixels"),  # over Pillow's warning: made an error
        (png_claiming(5_000, 5_000), "too many pixels"),  # over AVATAR_MAX_PIXELS
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 1024 * 1024), "over 2 MB"),
        (image_bytes((40, 40), "TIFF"), "Upload an image"),
        (b"", "empty"),
    ],
)
def test_a_bad_avatar_is_a_400_naming_the_field_and_nothing_is_stored(api_for, media, content, message):
    client = api_for()

    response = client.put("/api/users/me/avatar/", {"avatar": upload(content)}, format="multipart")

    assert response.status_code == 400
    assert list(response.json()) == ["avatar"]
    assert message in response.json()["avatar"][0]
    assert stored(media) == []
    assert User.objects.get(pk=client.user.pk).avatar == ""


@pytest.mark.parametrize(
    ("data", "format"), [({"avatar": "not a file"}, "json"), ({}, "multipart"), ({"avatar": ""}, "multipart")]
)
def test_an_avatar_request_without_a_file_is_a_400(api_for, media, data, format):
    response = api_for().put("/api/users/me/avatar/", data, format=format)

    assert response.status_code == 400
    assert list(response.json()) == ["avatar"]
    assert stored(media) == []


def test_avatars_need_a_login(api, media):
    assert api.put("/api/users/me/avatar/", {"avatar": upload(image_bytes())}, format="multipart").status_code == 401
    assert api.delete("/api/users/me/avatar/").status_code == 401
    assert stored(media) == []


def test_the_media_route_serves_only_stored_avatar_names(client):
    assert client.get("/media/avatars/1/" + "0" * 32 + ".jpg").status_code == 404
    assert client.get("/media/../config/settings.py").status_code == 404
    assert client.get("/media/avatars/1/x.txt").status_code == 404


def test_the_generated_avatar_is_initials_on_a_colour_of_the_name(client):
    response = client.get("/avatars/default/ada_lovelace.svg")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    svg = response.content.decode()
    assert ">AL</text>" in svg
    assert avatars.default_svg("Ada_Lovelace") == svg
    assert avatars.default_svg("bob") != svg
    assert avatars.initials("x") == "X"
    assert avatars.initials("_") == "_"
    assert avatars.initials("grace_04598") == "G"
    assert avatars.initials("_1_2") == "1"


def test_cards_and_lists_carry_avatars_without_a_query_per_item(api, media, django_assert_num_queries):
    author = UserFactory(username="author")
    avatars.avatar_set(user=author, upload=upload(image_bytes()))
    for n in range(5):
        tweet(author, f"tweet {n}")
        tweet(UserFactory(), f"another {n}")

    with django_assert_num_queries(2):
        results = api.get("/api/users/author/tweets/").json()["results"]

    assert {item["author"]["avatar_url"] for item in results} == {author.avatar_url}
    assert author.avatar_url.startswith("/media/avatars/")


def test_pages_show_avatars_on_cards_and_profiles(logged_in, media):
    author = UserFactory(username="author")
    avatars.avatar_set(user=author, upload=upload(image_bytes()))
    tweet(author, "with a face")
    tweet(logged_in.user, "without one")

    page = (
        logged_in.get("/u/author/").content.decode() + logged_in.get(f"/u/{logged_in.user.username}/").content.decode()
    )

    assert f'class="avatar avatar-large" src="{author.avatar_url}"' in page
    assert f'class="avatar" src="{author.avatar_url}"' in page
    assert f'class="avatar" src="/avatars/default/{logged_in.user.username}.svg"' in page


# --- /settings/ --------------------------------------------------------------------------


def test_settings_need_a_login(client):
    assert client.get("/settings/")["Location"].startswith("/login/?next=/settings/")


def test_settings_save_the_profile(logged_in):
    response = logged_in.post("/settings/", {"action": "profile", "display_name": "New Name", "bio": "A bio."})

    assert response.status_code == 302
    logged_in.user.refresh_from_db()
    assert (logged_in.user.display_name, logged_in.user.bio) == ("New Name", "A bio.")
    assert "Your profile was saved." in logged_in.get("/settings/").content.decode()


def test_settings_refuse_an_over_long_bio_and_keep_the_text(logged_in):
    response = logged_in.post("/settings/", {"action": "profile", "display_name": "", "bio": "y" * 161})

    assert response.status_code == 400
    page = response.content.decode()
    assert "Bio: Ensure this value has at most 160 characters" in page
    assert "y" * 161 in page
    logged_in.user.refresh_from_db()
    assert logged_in.user.bio != "y" * 161


def test_settings_upload_and_remove_an_avatar(logged_in, media, django_capture_on_commit_callbacks):
    response = logged_in.post("/settings/", {"action": "avatar", "avatar": upload(image_bytes())})

    assert response.status_code == 302
    logged_in.user.refresh_from_db()
    assert stored(media) == [logged_in.user.avatar]
    assert logged_in.user.avatar_url in logged_in.get("/settings/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post("/settings/", {"action": "avatar-delete"})
    assert stored(media) == []


def test_settings_refuse_a_bad_avatar_with_its_message(logged_in, media):
    response = logged_in.post("/settings/", {"action": "avatar", "avatar": upload(b"text", "a.png")})

    assert response.status_code == 400
    assert "Upload an image" in response.content.decode()
    assert stored(media) == []


def test_settings_change_the_password_and_stay_logged_in(client):
    user = UserFactory()
    client.force_login(user)

    response = client.post(
        "/settings/",
        {
            "action": "password",
            "old_password": PASSWORD,
            "new_password1": STRONG_PASSWORD,
            "new_password2": STRONG_PASSWORD,
        },
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(STRONG_PASSWORD)
    assert client.get("/settings/").status_code == 200


def test_settings_refuse_a_wrong_current_password(logged_in):
    response = logged_in.post(
        "/settings/",
        {
            "action": "password",
            "old_password": "wrong",
            "new_password1": STRONG_PASSWORD,
            "new_password2": STRONG_PASSWORD,
        },
    )

    assert response.status_code == 400
    assert "old password was entered incorrectly" in response.content.decode()
    logged_in.user.refresh_from_db()
    assert logged_in.user.check_password(PASSWORD)


def test_settings_refuse_an_unknown_action(logged_in):
    assert logged_in.post("/settings/", {"action": "nonsense"}).status_code == 400

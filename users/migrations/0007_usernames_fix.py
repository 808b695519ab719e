"""Usernames become letters, digits and underscore, 1 to 30 characters, and
unique without regard to case (the next migration adds the constraints).

Existing names that break a rule are renamed, deterministically, and every
rename is printed (and logged as a warning), rather than failing the
migration: a failing migration blocks every deploy until someone edits rows
by hand, while a rename keeps the account, its tweets and its follows, and
the printed list says whom to tell. The rules of a rename:

- a name that is valid, not reserved (`me`: /api/users/me/) and not taken
  (in any case) by an older account keeps as it is: of names that differ only in case, the oldest account (lowest id)
  keeps its name;
- any other character becomes `_`, the result is cut to 30 characters (an
  empty one becomes `user`);
- while that is taken (in any case), `_2`, `_3`, ... is appended (cutting
  the name to keep within 30).
"""

import logging
import re
import sys

from django.db import migrations

MAX_CHARS = 30
VALID = re.compile(r"[A-Za-z0-9_]{1,30}", re.ASCII)
RESERVED = {"me"}
INVALID_CHAR = re.compile(r"[^A-Za-z0-9_]", re.ASCII)

logger = logging.getLogger("users.migrations")


def renames_planned(users: list[tuple[int, str]]) -> list[tuple[int, str, str]]:
    """For (id, username) pairs: the renames as (id, old, new), by id."""
    kept: set[str] = set(RESERVED)
    keeps: set[int] = set()
    for pk, name in sorted(users):
        if VALID.fullmatch(name) and name.lower() not in kept:
            kept.add(name.lower())
            keeps.add(pk)
    renames = []
    for pk, name in sorted(users):
        if pk in keeps:
            continue
        base = INVALID_CHAR.sub("_", name)[:MAX_CHARS] or "user"
        new, n = base, 1
        while new.lower() in kept:
            n += 1
            suffix = f"_{n}"
            new = base[: MAX_CHARS - len(suffix)] + suffix
        kept.add(new.lower())
        renames.append((pk, name, new))
    return renames


def usernames_fix(apps, schema_editor):
    User = apps.get_model("users", "User")
    renames = renames_planned(list(User.objects.order_by("pk").values_list("pk", "username")))
    if not renames:
        return
    # Through a free name first: a rename may take a name another rename frees.
    for pk, _, _ in renames:
        User.objects.filter(pk=pk).update(username=f"~renaming~{pk}")
    for pk, _, new in renames:
        User.objects.filter(pk=pk).update(username=new)
    report = [f"users.0007: renamed {len(renames)} username(s) that broke the rules or clashed in case:"]
    report += [f"  id {pk}: {old!r} -> {new!r}" for pk, old, new in renames]
    sys.stdout.write("\n".join(report) + "\n")
    logger.warning("\n".join(report))


class Migration(migrations.Migration):
    dependencies = [("users", "0006_last_feed_at")]

    operations = [migrations.RunPython(usernames_fix, migrations.RunPython.noop)]

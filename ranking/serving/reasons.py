"""Why a viewer sees a tweet ("Why am I seeing this?"), in words, from the
features it was scored with."""

from collections.abc import Sequence

from ranking.serving.candidates import Candidate, Source
from ranking.spec import COLUMN


def candidate_reasons(*, candidate: Candidate, features: Sequence[float], names: dict[int, str]) -> list[str]:
    """Why a viewer sees a tweet, in words, from its features (the main ones first)."""
    author = names.get(candidate.author_id, "this author")
    reasons = []
    if candidate.source == Source.SIMILAR:
        reasons.append("Liked by people who like what you like")
    elif candidate.source == Source.POPULAR:
        reasons.append("Popular right now")
    if features[COLUMN["aff_likes"]] >= 2:
        reasons.append(f"You often like @{author}")
    elif features[COLUMN["aff_replies"]] >= 1:
        reasons.append(f"You reply to @{author}")
    engaged = int(features[COLUMN["followees_engaged"]])
    if engaged >= 1:
        reasons.append(f"Liked by {engaged} {'person' if engaged == 1 else 'people'} you follow")
    if candidate.via_user_id and candidate.via_user_id in names:
        reasons.append(f"Retweeted by @{names[candidate.via_user_id]}")
    if features[COLUMN["follows_author"]] and not reasons:
        reasons.append(f"You follow @{author}")
    if features[COLUMN["tweet_likes_per_h"]] >= 1 and len(reasons) < 2 and "Popular right now" not in reasons:
        reasons.append("Popular right now")
    return reasons[:2]

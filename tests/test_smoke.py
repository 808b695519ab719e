def test_feed_lists_followed_authors_tweets(user_api):
    from tests.factories import UserFactory, tweet
    from users.services import follow_create

    author = UserFactory()
    follow_create(follower=user_api.user, followee=author)
    posted = tweet(author=author, text="hi")
    response = user_api.get("/api/feed/?mode=latest")
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [posted.pk]

from saleor_store_credit.webhooks.signing import sign, verify

BODY = b'{"event":"store_credit.balance_changed"}'


def test_a_signature_verifies_with_the_same_secret_and_body():
    header = sign("s3cret", BODY, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert verify("s3cret", BODY, header, now=1_700_000_010)


def test_a_signature_fails_for_another_secret_body_or_an_old_timestamp():
    header = sign("s3cret", BODY, timestamp=1_700_000_000)
    assert not verify("other", BODY, header, now=1_700_000_000)
    assert not verify("s3cret", BODY + b" ", header, now=1_700_000_000)
    assert not verify("s3cret", BODY, header, now=1_700_000_000 + 301)
    assert not verify("s3cret", BODY, "garbage", now=1_700_000_000)

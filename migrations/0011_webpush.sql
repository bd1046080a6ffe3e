-- Web Push (issue 17): browsers subscribe with an endpoint at their push service and the keys
-- their messages are encrypted to (RFC 8291): `p256dh` (an uncompressed P-256 point) and `auth`
-- (16 bytes). For `webpush` devices `token` is the endpoint URL.
ALTER TABLE push_subscriptions DROP CONSTRAINT push_subscriptions_kind_check;
ALTER TABLE push_subscriptions
    ADD CONSTRAINT push_subscriptions_kind_check CHECK (kind IN ('webhook', 'webpush')),
    ADD COLUMN p256dh bytea,
    ADD COLUMN auth bytea,
    ADD CONSTRAINT push_subscriptions_webpush_keys
        CHECK (kind <> 'webpush' OR (length(p256dh) = 65 AND length(auth) = 16));

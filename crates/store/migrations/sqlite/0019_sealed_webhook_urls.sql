-- An outbound endpoint's URL can be a credential: a Slack or Discord incoming webhook, a
-- Telegram bot's sendMessage URL, a receiver with a token in its query. It is sealed like every
-- other secret: `url_sealed` holds an XChaCha20-Poly1305 ciphertext with the endpoint id and
-- `webhook_url` as associated data, and `url` keeps only what may be shown (scheme, host, port).
-- Endpoints an older version wrote keep their plaintext in `url` until the store's first open
-- seals it (`seal_plaintext_webhook_urls`), before anything is served.
ALTER TABLE webhook_endpoints ADD COLUMN url_sealed BLOB;

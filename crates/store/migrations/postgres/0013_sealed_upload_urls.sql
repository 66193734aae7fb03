-- Upload URLs are bearer capabilities (whoever holds one can upload bytes into the creator's
-- publish for an hour), so from now on they are stored only sealed, like tokens:
-- `upload_url_sealed` holds XChaCha20-Poly1305 ciphertexts with the post id and `upload_url`
-- as associated data, and is what the store reads and writes.
--
-- SQL cannot encrypt, so the plaintext URLs already stored are CONVERTED, not dropped: every
-- time the store opens, right after the migrations, it seals each remaining `upload_url` into
-- `upload_url_sealed` and clears it (`seal_plaintext_upload_urls`). Dropping them would be
-- wrong: a file upload in `initialized` or `uploading` with a publish id and no upload URL
-- is taken for a publish TikTok is already processing (as a pull is): its upload would not
-- resume, and the post would wait on TikTok's status for bytes that never come.
--
-- The plaintext column stays only for that conversion; nothing writes it any more. The partial
-- index lists what is left to convert (nothing, after the first open) without reading the
-- whole table.
ALTER TABLE posts ADD COLUMN upload_url_sealed BYTEA;
CREATE INDEX posts_with_plaintext_upload_url ON posts (id) WHERE upload_url IS NOT NULL;

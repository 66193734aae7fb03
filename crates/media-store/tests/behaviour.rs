//! One behaviour suite, run unchanged on the local directory and on a real S3-compatible server
//! (moto on loopback).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{
    Backend, BackendKind, LiveBytes, MIB, collect, content, generated_stream, sha256_hex,
    small_parts, stream_of,
};
use futures_util::{StreamExt as _, stream};
use rstest::rstest;
use tokpost_media_store::{
    ByteSize, ByteStream, MediaKey, MediaStore, MediaStoreError, ObjectSize, PutOptions, S3Tuning,
};

const NO_LIMIT: u64 = 1 << 40;

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_stores_the_bytes_under_their_hash_and_reads_them_back(#[case] kind: BackendKind) {
    let Some(backend) = Backend::start(kind, S3Tuning::default()).await else {
        return;
    };
    let data = content(1, 100_000);
    let stored = backend
        .store
        .put(
            stream_of(data.clone(), 8192),
            PutOptions::limited_to(NO_LIMIT),
        )
        .await
        .unwrap();

    assert_eq!(stored.size_bytes, 100_000);
    assert_eq!(stored.sha256_hex.as_str(), sha256_hex(&data));
    assert_eq!(stored.key.as_str(), format!("sha256/{}", sha256_hex(&data)));
    assert!(!stored.already_stored);
    assert!(backend.store.exists(&stored.key).await.unwrap());
    assert_eq!(backend.store.len(&stored.key).await.unwrap(), 100_000);
    let read = collect(
        backend
            .store
            .read_range(&stored.key, 0..100_000)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(read, data);
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_larger_than_the_part_size_is_stored_whole_and_nothing_else_remains(
    #[case] kind: BackendKind,
) {
    let Some(backend) = Backend::start(kind, small_parts(2)).await else {
        return;
    };
    let len = 12 * MIB;
    let tracker = Arc::new(LiveBytes::default());
    let stored = backend
        .store
        .put(
            generated_stream(7, len, 64 * 1024, Arc::clone(&tracker)),
            PutOptions::limited_to(NO_LIMIT).with_declared_len(len as u64),
        )
        .await
        .unwrap();

    let expected = content(7, len);
    assert_eq!(stored.size_bytes, len as u64);
    assert_eq!(stored.sha256_hex.as_str(), sha256_hex(&expected));
    let read = collect(
        backend
            .store
            .read_range(&stored.key, 0..len as u64)
            .await
            .unwrap(),
    )
    .await;
    assert!(
        read == expected,
        "the object read back differs from what was put"
    );
    assert_eq!(tracker.live(), 0, "the store kept chunks after the put");

    let stored_names = backend.everything_stored().await;
    assert_eq!(stored_names.len(), 1, "{stored_names:?}");
    assert!(
        stored_names[0].ends_with(stored.key.as_str()),
        "{stored_names:?}"
    );
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_put_holds_at_most_a_few_parts_in_memory(#[case] kind: BackendKind) {
    let tuning = small_parts(1);
    let Some(backend) = Backend::start(kind, tuning).await else {
        return;
    };
    let len = 30 * MIB;
    let chunk = 64 * 1024;
    let tracker = Arc::new(LiveBytes::default());
    backend
        .store
        .put(
            generated_stream(11, len, chunk, Arc::clone(&tracker)),
            PutOptions::limited_to(NO_LIMIT),
        )
        .await
        .unwrap();

    // One part filling and one on the wire, whatever the file's size.
    let bound = tuning.part_size_bytes * (tuning.parts_in_flight + 1) + chunk;
    assert!(
        tracker.peak() <= bound,
        "{} bytes of the upload were alive at once (bound {bound}, file {len})",
        tracker.peak()
    );
    assert_eq!(tracker.live(), 0);
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_reads_at_any_offset_return_exactly_those_bytes(#[case] kind: BackendKind) {
    let Some(backend) = Backend::start(kind, small_parts(2)).await else {
        return;
    };
    let len = 11 * MIB + 123;
    let data = content(3, len);
    let stored = backend
        .store
        .put(
            stream_of(data.clone(), 256 * 1024),
            PutOptions::limited_to(NO_LIMIT),
        )
        .await
        .unwrap();

    let part = 5 * MIB as u64;
    let len = len as u64;
    let ranges = [
        0..1,
        0..part,
        part - 1..part + 1,
        2 * part - 17..len,
        len - 1..len,
        1234..1234,
        len..len,
        3_333_333..7_777_777,
        0..len,
    ];
    for range in ranges {
        let read = collect(
            backend
                .store
                .read_range(&stored.key, range.clone())
                .await
                .unwrap(),
        )
        .await;
        let expected = &data[range.start as usize..range.end as usize];
        assert!(read == expected, "range {range:?} read back wrong bytes");
    }
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_beyond_the_object_is_refused_with_its_length(#[case] kind: BackendKind) {
    let Some(backend) = Backend::start(kind, S3Tuning::default()).await else {
        return;
    };
    let stored = backend
        .store
        .put(
            stream_of(content(4, 1000), 100),
            PutOptions::limited_to(NO_LIMIT),
        )
        .await
        .unwrap();
    for range in [990..1001, 1000..1001, 2000..3000] {
        let error = backend
            .store
            .read_range(&stored.key, range.clone())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(error, MediaStoreError::RangeOutOfBounds { len: 1000, start, end, .. } if start == range.start && end == range.end),
            "{range:?}: {error}"
        );
    }
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_declared_over_the_limit_is_refused_before_reading_with_its_exact_size(
    #[case] kind: BackendKind,
) {
    let Some(backend) = Backend::start(kind, S3Tuning::default()).await else {
        return;
    };
    let nothing: ByteStream = Box::pin(stream::empty());
    let error = backend
        .store
        .put(
            nothing,
            PutOptions::limited_to(4_000_000_000).with_declared_len(4_200_000_000),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "file is 4.2 GB (4200000000 bytes), limit 4 GB (4000000000 bytes)"
    );
    assert!(backend.everything_stored().await.is_empty());
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_upload_over_the_limit_is_counted_refused_and_leaves_nothing_behind(
    #[case] kind: BackendKind,
) {
    let Some(backend) = Backend::start(kind, small_parts(2)).await else {
        return;
    };
    let kept = backend
        .store
        .put(
            stream_of(content(5, 10), 10),
            PutOptions::limited_to(NO_LIMIT),
        )
        .await
        .unwrap();
    let before = backend.everything_stored().await;

    // Past one whole part, so S3 has a multipart upload open when the limit is crossed.
    let len = 6 * MIB + 512 * 1024;
    let limit = 5 * MIB as u64 + 700_000;
    let tracker = Arc::new(LiveBytes::default());
    let error = backend
        .store
        .put(
            generated_stream(6, len, 64 * 1024, tracker),
            PutOptions::limited_to(limit),
        )
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            MediaStoreError::TooLarge { size: ObjectSize::Exactly(size), limit: ByteSize(l) }
                if size == len as u64 && l == limit
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "file is 6.8 MB (6815744 bytes), limit 5.9 MB (5942880 bytes)"
    );
    assert_eq!(backend.everything_stored().await, before);
    assert!(backend.store.exists(&kept.key).await.unwrap());
}

#[rstest]
#[case::local_short(BackendKind::Local, 1000)]
#[case::local_long(BackendKind::Local, 6 * MIB as u64)]
#[case::s3_short(BackendKind::S3, 1000)]
#[case::s3_long(BackendKind::S3, 6 * MIB as u64)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_does_not_match_its_declared_length_leaves_nothing_behind(
    #[case] kind: BackendKind,
    #[case] declared: u64,
) {
    let Some(backend) = Backend::start(kind, small_parts(2)).await else {
        return;
    };
    let actual = 5 * MIB + 100;
    let error = backend
        .store
        .put(
            stream_of(content(8, actual), 64 * 1024),
            PutOptions::limited_to(NO_LIMIT).with_declared_len(declared),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, MediaStoreError::LengthMismatch { declared: d, .. } if d == declared),
        "{error}"
    );
    assert!(backend.everything_stored().await.is_empty());
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_breaks_mid_upload_leaves_nothing_behind(#[case] kind: BackendKind) {
    let Some(backend) = Backend::start(kind, small_parts(2)).await else {
        return;
    };
    let good = stream_of(content(9, 6 * MIB), 64 * 1024);
    let broken: ByteStream = Box::pin(futures_util::StreamExt::chain(
        good,
        stream::iter([Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        ))]),
    ));
    let error = backend
        .store
        .put(broken, PutOptions::limited_to(NO_LIMIT))
        .await
        .unwrap_err();
    assert!(matches!(error, MediaStoreError::Source(_)), "{error}");
    assert!(backend.everything_stored().await.is_empty());
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_abandoned_mid_stream_leaves_nothing_behind(#[case] kind: BackendKind) {
    let Some(backend) = Backend::start(kind, small_parts(2)).await else {
        return;
    };
    // Six MiB, then a stream that never ends: the put is abandoned while it waits for more.
    let available = 6 * MIB;
    let pulled = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&pulled);
    let endless: ByteStream = Box::pin(
        stream_of(content(10, available), 64 * 1024)
            .inspect(move |chunk| {
                counted.fetch_add(chunk.as_ref().map_or(0, |c| c.len()), Ordering::SeqCst);
            })
            .chain(stream::pending()),
    );
    let mut put = backend.store.put(endless, PutOptions::limited_to(NO_LIMIT));
    // Drive it until it has taken everything there is: by then the local store has its
    // temporary file and S3 a multipart upload with one part.
    for _ in 0..10_000 {
        assert!(futures_util::poll!(put.as_mut()).is_pending());
        if pulled.load(Ordering::SeqCst) == available {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(pulled.load(Ordering::SeqCst), available);
    assert!(
        !backend.everything_stored().await.is_empty(),
        "the put never started writing"
    );
    drop(put);

    // S3's clean-up runs on a spawned task: wait for it (bounded), never for a fixed time.
    let mut left = backend.everything_stored().await;
    for _ in 0..300 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = backend.everything_stored().await;
    }
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn putting_the_same_bytes_twice_stores_them_once(#[case] kind: BackendKind) {
    let Some(backend) = Backend::start(kind, small_parts(2)).await else {
        return;
    };
    for len in [4096, 6 * MIB] {
        let data = content(12, len);
        let first = backend
            .store
            .put(
                stream_of(data.clone(), 64 * 1024),
                PutOptions::limited_to(NO_LIMIT),
            )
            .await
            .unwrap();
        let second = backend
            .store
            .put(
                stream_of(data.clone(), 1000),
                PutOptions::limited_to(NO_LIMIT),
            )
            .await
            .unwrap();
        assert_eq!(first.key, second.key);
        assert!(!first.already_stored);
        assert!(second.already_stored);
        let read = collect(
            backend
                .store
                .read_range(&second.key, 0..len as u64)
                .await
                .unwrap(),
        )
        .await;
        assert!(read == data);
    }
    assert_eq!(backend.everything_stored().await.len(), 2);
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_key_is_reported_as_not_found_and_deleting_it_succeeds(
    #[case] kind: BackendKind,
) {
    let Some(backend) = Backend::start(kind, S3Tuning::default()).await else {
        return;
    };
    let key = MediaKey::parse(&format!("sha256/{}", "0".repeat(64))).unwrap();
    assert!(!backend.store.exists(&key).await.unwrap());
    assert!(matches!(
        backend.store.len(&key).await,
        Err(MediaStoreError::NotFound { key: k }) if k == key
    ));
    assert!(matches!(
        backend.store.read_range(&key, 0..10).await,
        Err(MediaStoreError::NotFound { .. })
    ));
    backend.store.delete(&key).await.unwrap();
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_object_is_gone(#[case] kind: BackendKind) {
    let Some(backend) = Backend::start(kind, S3Tuning::default()).await else {
        return;
    };
    let stored = backend
        .store
        .put(
            stream_of(content(13, 5000), 1000),
            PutOptions::limited_to(NO_LIMIT),
        )
        .await
        .unwrap();
    backend.store.delete(&stored.key).await.unwrap();
    assert!(!backend.store.exists(&stored.key).await.unwrap());
    assert!(backend.everything_stored().await.is_empty());
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_upload_is_stored_and_reads_back_empty(#[case] kind: BackendKind) {
    let Some(backend) = Backend::start(kind, S3Tuning::default()).await else {
        return;
    };
    let stored = backend
        .store
        .put(Box::pin(stream::empty()), PutOptions::limited_to(NO_LIMIT))
        .await
        .unwrap();
    assert_eq!(stored.size_bytes, 0);
    assert_eq!(backend.store.len(&stored.key).await.unwrap(), 0);
    assert!(
        collect(backend.store.read_range(&stored.key, 0..0).await.unwrap())
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_storage_errors_never_carry_the_secret_key() {
    let Some(moto) = tokpost_testkit::moto::MotoServer::start_or_skip()
        .await
        .expect("moto must start when CI is set")
    else {
        return;
    };
    let mut config = moto
        .create_bucket("exists", S3Tuning::default())
        .await
        .unwrap();
    config.bucket = "no-such-bucket".to_owned();
    let secret = secrecy::ExposeSecret::expose_secret(&config.secret_access_key).to_owned();
    let store = tokpost_media_store::S3MediaStore::new(&config).unwrap();

    let error = store
        .put(
            stream_of(content(14, 1000), 100),
            PutOptions::limited_to(NO_LIMIT),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, MediaStoreError::ObjectStorage(_)),
        "{error}"
    );
    for shown in [
        error.to_string(),
        format!("{error:?}"),
        format!("{store:?}"),
    ] {
        assert!(!shown.contains(&secret), "{shown}");
    }
}

//! The writes of post moves inside a transaction: the compare-and-set updates (a statement per
//! batch of distinct posts), their events, quota uses, next jobs and webhooks.

use crate::db::{Tx, query_as};

pub(crate) async fn insert_event(
    tx: &mut Tx,
    post: tokpost_core::PostId,
    sequence: i64,
    event: &tokpost_core::NewPostEvent,
    state: tokpost_core::StateKind,
) -> Result<(), crate::StoreError> {
    insert_events(tx, vec![(post, sequence, event, state)]).await
}

/// The writes of transitions inside `tx`: each compare-and-set move, then their events
/// and quota uses in a statement each, their next jobs and outbound webhooks. `None`
/// for a post that was not in the expected state: nothing of its transition is written.
pub(crate) async fn apply_transitions(
    tx: &mut Tx,
    cipher: &crate::TokenCipher,
    transitions: &[&crate::Transition],
) -> Result<Vec<Option<tokpost_core::Post>>, crate::StoreError> {
    let moved = move_posts(tx, cipher, transitions).await?;
    let applied: Vec<(&crate::Transition, i64, &tokpost_core::Post)> = transitions
        .iter()
        .zip(&moved)
        .filter_map(|(transition, moved)| {
            moved
                .as_ref()
                .map(|(sequence, post)| (*transition, *sequence, post))
        })
        .collect();
    insert_events(
        tx,
        applied
            .iter()
            .map(|(transition, sequence, _)| {
                (
                    transition.post,
                    *sequence,
                    &transition.event,
                    transition.to.kind(),
                )
            })
            .collect(),
    )
    .await?;
    let uses: Vec<crate::QuotaUse> = applied
        .iter()
        .filter_map(|(transition, _, post)| {
            transition.quota_use.map(|kind| crate::QuotaUse {
                account_id: post.account_id,
                kind,
                post_id: Some(transition.post),
                at: transition.event.at,
            })
        })
        .collect();
    crate::quotas::insert_quota_uses(tx, &uses).await?;
    for (transition, _, post) in &applied {
        if let Some(job) = &transition.next_job {
            crate::queue::leases::insert_job(tx, job, transition.event.at).await?;
        }
        // The outbound webhook commits or rolls back with the move that causes it.
        if let Some(event) = crate::webhooks::post_transition_event(transition, post) {
            crate::webhooks::enqueue_webhook_in_tx(tx, post.workspace_id, &event).await?;
        }
        // So does following a post that went live for its counts.
        crate::insights::follow_in_tx(tx, post, transition.event.at).await?;
    }
    Ok(moved
        .into_iter()
        .map(|moved| moved.map(|(_, post)| post))
        .collect())
}

/// The compare-and-set moves of transitions: each post as its move left it, with the
/// sequence of the event the move writes (`None`: not in the expected state). One
/// statement per `ROWS_PER_STATEMENT` transitions of distinct posts.
pub(crate) async fn move_posts(
    tx: &mut Tx,
    cipher: &crate::TokenCipher,
    transitions: &[&crate::Transition],
) -> Result<Vec<Option<(i64, tokpost_core::Post)>>, crate::StoreError> {
    let mut moved = Vec::with_capacity(transitions.len());
    let mut batch: Vec<&crate::Transition> = Vec::new();
    let mut posts = std::collections::HashSet::new();
    for transition in transitions {
        // A post moved twice in one call moves in order, one statement after the other.
        if batch.len() == crate::db::ROWS_PER_STATEMENT || !posts.insert(transition.post) {
            moved.extend(move_post_batch(tx, cipher, &batch).await?);
            batch.clear();
            posts.clear();
            posts.insert(transition.post);
        }
        batch.push(transition);
    }
    moved.extend(move_post_batch(tx, cipher, &batch).await?);
    Ok(moved)
}

/// [`move_posts`] for transitions of distinct posts, in one statement. Upload URLs are
/// sealed with `cipher` on the way in and opened on the way out.
pub(crate) async fn move_post_batch(
    tx: &mut Tx,
    cipher: &crate::TokenCipher,
    transitions: &[&crate::Transition],
) -> Result<Vec<Option<(i64, tokpost_core::Post)>>, crate::StoreError> {
    use crate::rows::{ms, to_i64, to_json};
    if transitions.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = Vec::with_capacity(transitions.len());
    for transition in transitions {
        let progress = transition.progress.as_ref();
        rows.push((
            transition.post.as_uuid(),
            transition.to.kind().as_str(),
            to_json(&transition.to)?,
            ms(transition.event.at),
            to_json(&transition.expected)?,
            i64::from(progress.is_some()),
            progress
                .and_then(|p| p.publish_id.as_ref())
                .map(|id| id.as_str().to_owned()),
            progress
                .and_then(|p| p.upload_url.as_deref())
                .map(|url| crate::rows::seal_upload_url(cipher, transition.post.as_uuid(), url))
                .transpose()?,
            progress.and_then(|p| p.upload_url_expires_at).map(ms),
            progress.map_or(0, |p| to_i64(p.uploaded_bytes)),
            progress.map(|p| to_json(&p.public_post_ids)).transpose()?,
            i64::from(transition.to.kind() == tokpost_core::StateKind::Cancelled),
        ));
    }
    // VALUES columns are column1… on both backends. The progress columns are replaced
    // only for a transition that carries progress (column6 = 1). Any move answers a
    // recorded init (or follows one that was never sent): the post is no longer
    // pending an init.
    let mut query = crate::db::query(
        "UPDATE posts SET state = v.column2, state_detail = v.column3, event_count = posts.event_count + 1,
           updated_at_ms = v.column4, init_pending = 0,
           publish_id = CASE WHEN v.column6 = 1 THEN v.column7 ELSE posts.publish_id END,
           upload_url_sealed = CASE WHEN v.column6 = 1 THEN v.column8 ELSE posts.upload_url_sealed END,
           upload_url_expires_at_ms = CASE WHEN v.column6 = 1 THEN v.column9 ELSE posts.upload_url_expires_at_ms END,
           uploaded_bytes = CASE WHEN v.column6 = 1 THEN v.column10 ELSE posts.uploaded_bytes END,
           public_post_ids = CASE WHEN v.column6 = 1 THEN v.column11 ELSE posts.public_post_ids END
         FROM (",
    );
    query.push_values(rows, |row, values| {
        row.push_bind(values.0)
            .push_bind(values.1)
            .push_bind(values.2)
            .push_bind(values.3)
            .push_bind(values.4)
            .push_bind(values.5)
            .push_bind(values.6)
            .push_bind(values.7)
            .push_bind(values.8)
            .push_bind(values.9)
            .push_bind(values.10)
            .push_bind(values.11);
    });
    // A cancel (column12 = 1) never moves a post whose init may have reached TikTok.
    query.push(concat!(
        ") AS v WHERE posts.id = v.column1 AND posts.state_detail = v.column5 AND (v.column12 = 0 OR posts.init_pending = 0) RETURNING posts.event_count, ",
        crate::rows::post_columns!()
    ));
    let mut moved: std::collections::HashMap<uuid::Uuid, (i64, tokpost_core::Post)> =
        std::collections::HashMap::new();
    for row in query
        .rows::<crate::rows::MovedPostRow>()
        .fetch_all(&mut *tx)
        .await?
    {
        let post = row.post.into_domain(cipher)?;
        moved.insert(post.id.as_uuid(), (row.event_count, post));
    }
    Ok(transitions
        .iter()
        .map(|transition| moved.remove(&transition.post.as_uuid()))
        .collect())
}

/// Inserts events (post, sequence, event, the state it leaves the post in), a
/// statement per `ROWS_PER_STATEMENT`.
pub(crate) async fn insert_events(
    tx: &mut Tx,
    events: Vec<(
        tokpost_core::PostId,
        i64,
        &tokpost_core::NewPostEvent,
        tokpost_core::StateKind,
    )>,
) -> Result<(), crate::StoreError> {
    for batch in events.chunks(crate::db::ROWS_PER_STATEMENT) {
        events_sql(batch)?.execute(&mut *tx).await?;
    }
    Ok(())
}

/// The insert of `events` (at most [`crate::db::ROWS_PER_STATEMENT`]) as one statement.
pub(crate) fn events_sql(
    events: &[(
        tokpost_core::PostId,
        i64,
        &tokpost_core::NewPostEvent,
        tokpost_core::StateKind,
    )],
) -> Result<crate::db::Sql, crate::StoreError> {
    let mut rows = Vec::with_capacity(events.len());
    for (post, sequence, event, state) in events {
        let native = event
            .native_response
            .as_ref()
            .map(crate::rows::to_json)
            .transpose()?;
        rows.push((*post, *sequence, *event, *state, native));
    }
    let mut query = crate::db::query(
        "INSERT INTO post_events (post_id, sequence, at_ms, kind, state, message, native_response, actor_kind, actor_id) ",
    );
    query.push_values(rows, |row, (post, sequence, event, state, native)| {
        row.push_bind(post.as_uuid())
            .push_bind(sequence)
            .push_bind(crate::rows::ms(event.at))
            .push_bind(event.kind.as_str())
            .push_bind(state.as_str())
            .push_bind(event.message.clone())
            .push_bind(native)
            .push_bind(event.by.kind())
            .push_bind(event.by.id());
    });
    Ok(query)
}

pub(crate) async fn fetch_post(
    tx: &mut Tx,
    cipher: &crate::TokenCipher,
    id: tokpost_core::PostId,
) -> Result<tokpost_core::Post, crate::StoreError> {
    query_as::<crate::rows::PostRow>(concat!(
        "SELECT ",
        crate::rows::post_columns!(),
        " FROM posts WHERE id = $1"
    ))
    .bind(id.as_uuid())
    .fetch_one(&mut *tx)
    .await?
    .into_domain(cipher)
}

//! The init wave: when many prepared posts are due at one second, their inits are readied in
//! the seconds before (post, caps, request, token: reads only); just before the second the
//! `init_requested` events, rate-limit slots and active-creator admissions of thousands of
//! posts are written in a few transactions held open, committed at the second, and the
//! answers are stored in batches once every request is answered, instead of a handful of
//! transactions per post. Anything off the common path (a post that moved, a lost answer, a
//! cap, a refusal by TikTok) goes through the one-post steps, so the decisions stay in one
//! place.

use futures_util::stream::{self, StreamExt as _};
use tokio::sync::mpsc;
use tokpost_store::{ActiveCreatorRule, InitStart, InitStartOutcome, WorkerId};

use super::init::{InitRequest, Refused};
use super::*;
use crate::lease::JobLease;

/// Inits one wave has in flight at TikTok at once.
const REQUESTS_IN_FLIGHT: usize = 128;
/// A wave that records as it sends (it reached its second late): the posts whose init is
/// started in one transaction, large enough that the transactions are few, small enough that
/// the first requests leave while later ones are still being recorded.
const START_CHUNK: usize = 250;
/// A wave that records as it sends: the chunks recorded at once, each in its own transaction
/// (a chunk waits on round trips to the database more than on its work there, and the chunks
/// of one wave touch different posts and jobs). While the send stage is full, the next chunk
/// waits with its transaction open.
const CHUNKS_RECORDING: usize = 2;
/// A wave recorded ahead of its second: the transactions one process holds open at once, the
/// wave split evenly between them (each holds a database connection until the second; the
/// pool has 16). Four wrote 5,000 posts in 0.6 s on PostgreSQL in the 10,000-post burst.
const HELD_OPEN_AT_MOST: usize = 4;
/// Answers stored in one transaction once every request is answered.
const STORE_CHUNK: usize = 1_000;
/// Answers held back while inits are still being sent, at most: beyond, they are stored
/// anyway (an answer not yet stored is one a crash would lose).
const ANSWERS_HELD_AT_MOST: usize = 10_000;

/// What the hold must leave of the jobs' leases when it commits.
const HOLD_MARGIN: Duration = Duration::from_secs(2);
/// The local end given to the lease of a job the wave runs through the one-post steps: far
/// enough never to stop a run the wave still holds (its heartbeat renews the store's lease),
/// the store's check being what guards the run.
const WAVE_RUN_AT_MOST: Duration = Duration::from_secs(3_600);

/// Why a chunk's records were not committed.
enum HoldError {
    Store(StoreError),
    /// Committing now would outlast the jobs' leases.
    TooLong,
}

/// A started init with TikTok's answer.
type Answer = (ReadyInit, Result<PublishInit, TikTokFailure>);

/// What recording one chunk's starts gave.
#[derive(Default)]
struct ChunkStart {
    /// Recorded: send them now.
    started: Vec<ReadyInit>,
    /// Finished for now (a limit, a cap).
    settled: Vec<(Job, JobOutcome)>,
    /// For the one-post steps, once the wave's inits are out.
    alone: Vec<Job>,
}

/// A post whose init is ready to start at its time.
pub struct ReadyInit {
    job: Job,
    post: Post,
    request: InitRequest,
    token: AccessToken,
}

impl ReadyInit {
    /// When the init may start.
    #[must_use]
    pub fn due_at(&self) -> Timestamp {
        self.post.scheduled_at.at()
    }

    /// The job the wave holds for it.
    #[must_use]
    pub fn job(&self) -> &Job {
        &self.job
    }
}

impl std::fmt::Debug for ReadyInit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The request and the token stay out of logs.
        f.debug_struct("ReadyInit")
            .field("job", &self.job.id)
            .field("post", &self.post.id)
            .finish_non_exhaustive()
    }
}

/// What readying a job for the wave gave.
#[derive(Debug)]
pub enum Readied {
    /// Ready: start it at its time.
    Ready(Box<ReadyInit>),
    /// Finished for now without the wave (a cap, a missing token, a post that moved).
    Settled(Box<Job>, JobOutcome),
}

impl Publisher {
    /// Readies the inits of claimed jobs (see [`tokpost_store::InitWaveStore::claim_due_inits`]):
    /// reads each post, checks the creator's own caps, builds the request and fetches the
    /// token. A job that is not a prepared post runs the one-post steps and is settled.
    pub async fn ready_inits(&self, jobs: Vec<Job>) -> Vec<Readied> {
        stream::iter(jobs)
            .map(|job| self.ready_init(job))
            .buffer_unordered(REQUESTS_IN_FLIGHT)
            .collect()
            .await
    }

    async fn ready_init(&self, job: Job) -> Readied {
        let Some(post_id) = job.post_id else {
            let outcome = self.advance_held(&job).await;
            return Readied::Settled(Box::new(job), outcome);
        };
        let post = match self.store.post(post_id).await {
            Ok(Some(post)) => post,
            Ok(None) => return Readied::Settled(Box::new(job), JobOutcome::Done),
            Err(error) => return Readied::Settled(Box::new(job), transient_outcome(&error)),
        };
        if post.state.kind() != StateKind::CreatorChecked {
            let outcome = self.advance_held(&job).await;
            return Readied::Settled(Box::new(job), outcome);
        }
        match caps::creator_cap(
            self.store.as_ref(),
            &self.policy,
            post.account_id,
            post.spec.mode,
            post.scheduled_at.at().max(self.clock.now()),
        )
        .await
        {
            Ok(Some(block)) => {
                let next = self.defer_for_block(&post, block).await;
                return self.settle_alone(job, next).await;
            }
            Ok(None) => {}
            Err(error) => return Readied::Settled(Box::new(job), transient_outcome(&error)),
        }
        let request = match self.init_request(&post).await {
            Ok(request) => request,
            Err(next) => return self.settle_alone(job, next).await,
        };
        let token = match self.token(&post).await {
            Ok(token) => token,
            Err(next) => return self.settle_alone(job, next).await,
        };
        Readied::Ready(Box::new(ReadyInit {
            job,
            post,
            request,
            token,
        }))
    }

    /// Starts the inits of `ready` posts at `second`, in three stages that run together:
    /// chunk after chunk, a transaction each writes the `init_requested` events (with the
    /// rate-limit slots and active-creator admissions); each started init is sent as soon as
    /// a request slot is free; the publish ids TikTok answered are stored in batches once
    /// every init is answered (up to [`ANSWERS_HELD_AT_MOST`] wait), so that storing them
    /// takes neither the processor nor the database from the requests.
    ///
    /// Called before `second`, the records are written ahead in transactions held open and
    /// committed at the second (see [`tokpost_store::InitWaveStore::prepare_inits`]): the second
    /// itself costs a commit, and a crash before it leaves nothing recorded and nothing sent.
    /// Called at or after it, chunks of [`START_CHUNK`] are recorded [`CHUNKS_RECORDING`] at
    /// once, so that the first requests leave while later ones are still being recorded.
    ///
    /// Returns each job with how its run ended. Jobs whose lease `worker` lost meanwhile are
    /// left alone (another worker may run them) and not returned.
    pub async fn start_ready_inits(
        &self,
        worker: &WorkerId,
        ready: Vec<ReadyInit>,
        second: Timestamp,
        leased_until: Timestamp,
    ) -> Vec<(Job, JobOutcome)> {
        let ahead = self.clock.now() < second;
        let (chunk_size, chunks_at_once) = match (ahead, self.store.writes_side_by_side()) {
            (false, _) => (START_CHUNK, CHUNKS_RECORDING),
            (true, true) => (
                ready.len().div_ceil(HELD_OPEN_AT_MOST).max(START_CHUNK),
                HELD_OPEN_AT_MOST,
            ),
            // One writer at a time: a second transaction held open would only wait for the
            // first, so the whole wave is one.
            (true, false) => (ready.len().max(1), 1),
        };
        // Recorded as they are sent, the chunks wait for request slots: a chunk is recorded
        // just before its requests leave, not long before. Recorded ahead, every chunk is
        // committed at the second and hands its inits over at once.
        let handed_over_at_most = if ahead {
            ready.len().max(1)
        } else {
            START_CHUNK * CHUNKS_RECORDING
        };
        let (to_send, mut sending) = mpsc::channel::<ReadyInit>(handed_over_at_most);
        let (to_store, mut answers) = mpsc::unbounded_channel::<Answer>();
        let start = async move {
            let mut settled = Vec::new();
            let mut alone = Vec::new();
            let mut recorded = stream::iter(owned_chunks(ready, chunk_size))
                .map(|chunk| self.start_chunk(worker, chunk, second, leased_until))
                .buffered(chunks_at_once);
            while let Some(started) = recorded.next().await {
                settled.extend(started.settled);
                alone.extend(started.alone);
                for init in started.started {
                    if to_send.send(init).await.is_err() {
                        break;
                    }
                }
            }
            drop(to_send);
            (settled, alone)
        };
        let send = async move {
            stream::poll_fn(|cx| sending.poll_recv(cx))
                .map(|ready| async move {
                    let answer = self.send_init(&ready.token, &ready.request).await;
                    (ready, answer)
                })
                .buffer_unordered(REQUESTS_IN_FLIGHT)
                .for_each(|answer| {
                    // The store stage outlives this one: the receiver is still there.
                    let _ = to_store.send(answer);
                    std::future::ready(())
                })
                .await;
        };
        let store = async move {
            let mut settled = Vec::new();
            let mut held = Vec::new();
            while let Some(answer) = answers.recv().await {
                held.push(answer);
                if held.len() >= ANSWERS_HELD_AT_MOST {
                    settled.extend(
                        self.store_held_answers(worker, std::mem::take(&mut held))
                            .await,
                    );
                }
            }
            settled.extend(self.store_held_answers(worker, held).await);
            settled
        };
        let ((mut settled, alone), (), stored) = tokio::join!(start, send, store);
        settled.extend(stored);
        for job in alone {
            let outcome = self.advance_held(&job).await;
            settled.push((job, outcome));
        }
        settled
    }

    /// Records the start of a chunk's inits in one transaction, committed at `second` (at
    /// once if it has passed); the posts off the common path are settled (a limit, a cap) or
    /// left to the one-post steps.
    async fn start_chunk(
        &self,
        worker: &WorkerId,
        chunk: Vec<ReadyInit>,
        second: Timestamp,
        leased_until: Timestamp,
    ) -> ChunkStart {
        let began = self.clock.now();
        // The records are true from their commit on.
        let now = began.max(second);
        let active_creators = self.policy.active_creator_cap.map(|cap| ActiveCreatorRule {
            since: caps::window_start(now),
            cap: u64::from(cap),
        });
        let starts = chunk
            .iter()
            .map(|ready| InitStart {
                job: ready.job.id,
                post: ready.post.id,
                expected: ready.post.state,
                event: NewPostEvent::new(now, EventKind::InitRequested, "init sent"),
                rate_limit: RateLimitSlot {
                    account_id: ready.post.account_id,
                    endpoint: INIT.name,
                    window: RATE_WINDOW,
                    limit: INIT.per_minute,
                },
                active_creators,
            })
            .collect();
        let mut result = ChunkStart::default();
        let committed = async {
            let prepared = self
                .store
                .prepare_inits(worker, starts, now)
                .await
                .map_err(HoldError::Store)?;
            tracing::debug!(
                posts = chunk.len(),
                took_ms = self.clock.now().duration_since(began).as_millis(),
                "init wave recorded a chunk's starts"
            );
            self.clock.sleep_until(second).await;
            // The records hold the jobs' rows until the commit; a hold that would reach the
            // end of their leases (a paused process, a stalled database) is given up, so that
            // no worker ever waits on a wave whose leases have lapsed. Dropping `prepared`
            // rolls it back: nothing was recorded, nothing is sent.
            if clock::add(self.clock.now(), HOLD_MARGIN) >= leased_until {
                return Err(HoldError::TooLong);
            }
            prepared.commit().await.map_err(HoldError::Store)
        };
        let outcomes = match committed.await {
            Ok(outcomes) => outcomes,
            Err(HoldError::Store(error)) => {
                result.settled = chunk
                    .into_iter()
                    .map(|ready| (ready.job, transient_outcome(&error)))
                    .collect();
                return result;
            }
            Err(HoldError::TooLong) => {
                tracing::warn!(posts = chunk.len(), %leased_until, "init wave gave up its records: holding them longer would outlast the jobs' leases");
                result.settled = chunk
                    .into_iter()
                    .map(|ready| {
                        (
                            ready.job,
                            JobOutcome::Transient {
                                error: "the init wave's hold would have outlasted its lease; nothing was sent".to_owned(),
                            },
                        )
                    })
                    .collect();
                return result;
            }
        };
        tracing::debug!(
            posts = outcomes.len(),
            late_ms = self.clock.now().duration_since(second).as_millis(),
            "init wave committed a chunk's starts"
        );
        for (ready, outcome) in chunk.into_iter().zip(outcomes) {
            match outcome {
                InitStartOutcome::Started => result.started.push(ready),
                InitStartOutcome::LeaseLost => {
                    tracing::warn!(job = %ready.job.id, post = %ready.post.id, "the init wave lost a job's lease before its init; left to the worker that holds it");
                }
                InitStartOutcome::NotPrepared => result.alone.push(ready.job),
                InitStartOutcome::RateLimited { retry_at } => result.settled.push((
                    ready.job,
                    JobOutcome::RetryAt {
                        at: retry_at,
                        reason: format!(
                            "{} limit of {} per minute reached",
                            INIT.name, INIT.per_minute
                        ),
                    },
                )),
                InitStartOutcome::ActiveCreatorsFull { latest_uses } => {
                    let cap = active_creators.map_or(0, |rule| rule.cap);
                    match caps::active_creators_full(&latest_uses, cap) {
                        Some(block) => {
                            let next = self.defer_for_block(&ready.post, block).await;
                            result
                                .settled
                                .push(self.finish_alone(ready.job, next).await);
                        }
                        None => result.alone.push(ready.job),
                    }
                }
            }
        }
        result
    }

    /// Stores held answers, [`STORE_CHUNK`] to a transaction.
    async fn store_held_answers(
        &self,
        worker: &WorkerId,
        held: Vec<Answer>,
    ) -> Vec<(Job, JobOutcome)> {
        let mut settled = Vec::with_capacity(held.len());
        for chunk in owned_chunks(held, STORE_CHUNK) {
            settled.extend(self.store_answers(worker, chunk).await);
        }
        settled
    }

    /// Stores TikTok's answers to started inits in one transaction; refusals and anything off
    /// the common path take the one-post steps.
    async fn store_answers(
        &self,
        worker: &WorkerId,
        answers: Vec<Answer>,
    ) -> Vec<(Job, JobOutcome)> {
        let began = self.clock.now();
        let count = answers.len();
        let mut settled = Vec::new();
        let mut alone = Vec::new();
        let mut taken = Vec::with_capacity(answers.len());
        let mut transitions = Vec::with_capacity(answers.len());
        for (ready, answer) in answers {
            match answer {
                Ok(init) => match self.initialized_transition(&ready.post, &init).await {
                    Ok(transition) => {
                        transitions.push(transition);
                        taken.push(ready.job);
                    }
                    Err(next) => settled.push(self.finish_alone(ready.job, next).await),
                },
                Err(failure) => {
                    let next = match self
                        .init_refused(&ready.job, &ready.post, &ready.token, &failure, false)
                        .await
                    {
                        // The refreshed token goes with the one-post path's next send.
                        Refused::SendAgain => {
                            alone.push(ready.job);
                            continue;
                        }
                        Refused::Stop(next) => next,
                    };
                    settled.push(self.finish_alone(ready.job, next).await);
                }
            }
        }
        match self.store.transition_posts(transitions).await {
            Ok(outcomes) => {
                for (job, outcome) in taken.into_iter().zip(outcomes) {
                    match outcome {
                        TransitionOutcome::Applied(post) => {
                            let next = self.after_init(&post).await;
                            settled.push(self.finish_alone(job, next).await);
                        }
                        TransitionOutcome::Stale { .. } | TransitionOutcome::LeaseLost => {
                            alone.push(job);
                        }
                    }
                }
            }
            // The answers are lost to us: each post's last event is its `init_requested`,
            // which the one-post path reads as a lost answer (a file upload is sent again,
            // a pull waits as `uncertain`), once the back-off has passed.
            Err(error) => settled.extend(
                taken
                    .into_iter()
                    .map(|job| (job, transient_outcome(&error))),
            ),
        }
        tracing::debug!(
            %worker,
            answers = count,
            took_ms = self.clock.now().duration_since(began).as_millis(),
            "init wave stored answers"
        );
        for job in alone {
            let outcome = self.advance_held(&job).await;
            settled.push((job, outcome));
        }
        settled
    }

    /// The one-post steps for a job the wave holds, guarded like a worker's run: every write
    /// names the wave's lease, and the store refuses it once another worker has taken the job
    /// (the wave's lease lapsed and was swept), so the first step of a job the wave lost writes
    /// nothing, and sends nothing (an init is recorded before it is sent). The wave renews its
    /// leases itself ([`crate::init_wave`]); their end is not followed here, so only the
    /// store's check guards these runs, not the clock.
    async fn advance_held(&self, job: &Job) -> JobOutcome {
        let Some(holder) = job.locked_by.clone() else {
            return self.advance(job).await;
        };
        let until = clock::add(self.clock.now(), WAVE_RUN_AT_MOST);
        lease::run_under(JobLease::new(job.id, holder, until), self.advance(job)).await
    }

    async fn settle_alone(&self, job: Job, next: Next) -> Readied {
        let (job, outcome) = self.finish_alone(job, next).await;
        Readied::Settled(Box::new(job), outcome)
    }

    /// A one-post step's result as the job's outcome: a post that moved on takes its next
    /// steps now.
    async fn finish_alone(&self, job: Job, next: Next) -> (Job, JobOutcome) {
        let outcome = match next {
            Next::Stop(outcome) => outcome,
            Next::Continue(_) => self.advance_held(&job).await,
        };
        (job, outcome)
    }
}

/// `items` in order, `size` (at least one) to a chunk, the last maybe shorter, each chunk owning
/// its items.
fn owned_chunks<T>(items: Vec<T>, size: usize) -> impl Iterator<Item = Vec<T>> {
    let mut items = items.into_iter().peekable();
    std::iter::from_fn(move || {
        items.peek()?;
        Some(items.by_ref().take(size.max(1)).collect())
    })
}

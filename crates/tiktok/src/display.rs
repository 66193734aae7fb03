//! Display API (tiktok-display-api.md): a creator's profile and counts (`GET /v2/user/info/`),
//! their public videos (`POST /v2/video/list/`) and chosen videos' counts
//! (`POST /v2/video/query/`).
//!
//! Every answer is judged by `error.code` like the Content Posting API's
//! ([`crate::failure::judge`]): `scope_not_authorized` and `scope_permission_missed` mean the
//! creator must connect again with the scopes. Counts are lifetime totals. A video's id is the
//! post's public id ([`PublicPostId`]), sent by TikTok as a string here and as a number in a
//! status answer; it is kept as the number, never derived from a publish id. Missing or
//! malformed counts are `None`, never a panic.

use serde::Serialize;
use serde_json::Value;

use crate::client::TikTokClient;
use crate::failure::{self, AnswerShape, TikTokFailure};
use crate::wire::{AccessToken, PublicPostId, Scope};

const USER_INFO_PATH: &str = "v2/user/info/";
const VIDEO_LIST_PATH: &str = "v2/video/list/";
const VIDEO_QUERY_PATH: &str = "v2/video/query/";

/// The most videos one list page or one query holds.
pub const MAX_VIDEOS_PER_CALL: usize = 20;

/// The video fields tokpost reads.
const VIDEO_FIELDS: &str = "id,create_time,title,video_description,duration,share_url,view_count,like_count,comment_count,share_count";

/// A creator's profile and counts, as far as the granted scopes show them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub open_id: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    /// `user.info.profile`.
    pub username: Option<String>,
    /// `user.info.profile`.
    pub is_verified: Option<bool>,
    /// `user.info.stats`.
    pub follower_count: Option<u64>,
    /// `user.info.stats`.
    pub following_count: Option<u64>,
    /// `user.info.stats`: likes across the creator's videos.
    pub likes_count: Option<u64>,
    /// `user.info.stats`: publicly posted videos.
    pub video_count: Option<u64>,
}

/// One public video and its lifetime counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Video {
    pub id: PublicPostId,
    /// Epoch seconds.
    pub create_time: Option<i64>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub duration_secs: Option<u64>,
    pub share_url: Option<String>,
    pub view_count: Option<u64>,
    pub like_count: Option<u64>,
    pub comment_count: Option<u64>,
    pub share_count: Option<u64>,
}

/// A page of a creator's public videos, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoPage {
    pub videos: Vec<Video>,
    /// Pass back for the next (older) page.
    pub cursor: Option<i64>,
    pub has_more: bool,
}

/// The user-info fields the granted `scopes` allow: asking for more fails the whole call.
#[must_use]
pub fn user_fields(scopes: &[Scope]) -> String {
    let has = |wanted: &str| scopes.iter().any(|scope| scope.as_str() == wanted);
    let mut fields = vec!["open_id", "display_name", "avatar_url"];
    if has("user.info.profile") {
        fields.extend(["username", "is_verified"]);
    }
    if has("user.info.stats") {
        fields.extend([
            "follower_count",
            "following_count",
            "likes_count",
            "video_count",
        ]);
    }
    fields.join(",")
}

#[derive(Serialize)]
struct ListBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<i64>,
    max_count: usize,
}

#[derive(Serialize)]
struct QueryBody {
    filters: QueryFilters,
}

#[derive(Serialize)]
struct QueryFilters {
    video_ids: Vec<String>,
}

impl TikTokClient {
    /// The creator's profile and counts, asking only for the fields `scopes` allow.
    ///
    /// # Errors
    /// A classified [`TikTokFailure`] (`scope_not_authorized`: connect again).
    pub async fn user_info(
        &self,
        token: &AccessToken,
        scopes: &[Scope],
    ) -> Result<UserInfo, TikTokFailure> {
        let path = format!("{USER_INFO_PATH}?fields={}", user_fields(scopes));
        let answer = self.get_json(USER_INFO_PATH, &path, token).await?;
        let data = failure::judge(answer.status, &answer.body, AnswerShape::Envelope)?;
        let user = data
            .get("user")
            .ok_or_else(|| malformed(answer.status, &answer.body, "user info without `user`"))?;
        Ok(UserInfo {
            open_id: text(user, "open_id"),
            display_name: text(user, "display_name"),
            avatar_url: text(user, "avatar_url"),
            username: text(user, "username"),
            is_verified: user.get("is_verified").and_then(Value::as_bool),
            follower_count: count(user, "follower_count"),
            following_count: count(user, "following_count"),
            likes_count: count(user, "likes_count"),
            video_count: count(user, "video_count"),
        })
    }

    /// A page of the creator's public videos posted before `cursor` (epoch milliseconds; the
    /// newest when `None`), at most `max_count` (clamped to 1–20).
    ///
    /// # Errors
    /// A classified [`TikTokFailure`].
    pub async fn video_list(
        &self,
        token: &AccessToken,
        cursor: Option<i64>,
        max_count: usize,
    ) -> Result<VideoPage, TikTokFailure> {
        let path = format!("{VIDEO_LIST_PATH}?fields={VIDEO_FIELDS}");
        let body = ListBody {
            cursor,
            max_count: max_count.clamp(1, MAX_VIDEOS_PER_CALL),
        };
        let answer = self
            .post_json_to(VIDEO_LIST_PATH, &path, token, Some(&body))
            .await?;
        let data = failure::judge(answer.status, &answer.body, AnswerShape::Envelope)?;
        Ok(VideoPage {
            videos: videos(&data, answer.status, &answer.body)?,
            cursor: data.get("cursor").and_then(Value::as_i64),
            has_more: data.get("has_more").and_then(Value::as_bool) == Some(true),
        })
    }

    /// The counts of the creator's videos `ids` (at most 20). A video that is not theirs, not
    /// public or unknown is absent from the answer.
    ///
    /// # Errors
    /// A classified [`TikTokFailure`]; more than 20 ids is `invalid_params` without a request.
    pub async fn video_query(
        &self,
        token: &AccessToken,
        ids: &[PublicPostId],
    ) -> Result<Vec<Video>, TikTokFailure> {
        if ids.len() > MAX_VIDEOS_PER_CALL {
            return Err(TikTokFailure {
                message: Some(format!(
                    "video/query takes at most {MAX_VIDEOS_PER_CALL} ids ({} given)",
                    ids.len()
                )),
                ..TikTokFailure::from_status("invalid_params", 400, String::new())
            });
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let path = format!("{VIDEO_QUERY_PATH}?fields={VIDEO_FIELDS}");
        let body = QueryBody {
            filters: QueryFilters {
                video_ids: ids.iter().map(ToString::to_string).collect(),
            },
        };
        let answer = self
            .post_json_to(VIDEO_QUERY_PATH, &path, token, Some(&body))
            .await?;
        let data = failure::judge(answer.status, &answer.body, AnswerShape::Envelope)?;
        videos(&data, answer.status, &answer.body)
    }
}

fn text(object: &Value, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A count sent as a number or a numeric string; a negative or other value is none.
fn count(object: &Value, key: &str) -> Option<u64> {
    match object.get(key)? {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn videos(data: &Value, status: u16, body: &str) -> Result<Vec<Video>, TikTokFailure> {
    let Some(list) = data.get("videos") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| malformed(status, body, "`videos` is not a list"))?;
    list.iter()
        .map(|video| {
            let id = video
                .get("id")
                .cloned()
                .and_then(|id| serde_json::from_value::<PublicPostId>(id).ok())
                .ok_or_else(|| malformed(status, body, "a video without a numeric `id`"))?;
            Ok(Video {
                id,
                create_time: video.get("create_time").and_then(Value::as_i64),
                title: text(video, "title"),
                description: text(video, "video_description"),
                duration_secs: count(video, "duration"),
                share_url: text(video, "share_url"),
                view_count: count(video, "view_count"),
                like_count: count(video, "like_count"),
                comment_count: count(video, "comment_count"),
                share_count: count(video, "share_count"),
            })
        })
        .collect()
}

fn malformed(status: u16, body: &str, what: &str) -> TikTokFailure {
    TikTokFailure {
        message: Some(format!("unexpected Display API data: {what}")),
        ..TikTokFailure::from_status(
            crate::catalog::ids::MALFORMED_RESPONSE,
            status,
            body.to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_fields_follow_the_granted_scopes() {
        let basic = [Scope::UserInfoBasic];
        assert_eq!(user_fields(&basic), "open_id,display_name,avatar_url");
        let all = Scope::parse_list("user.info.basic,user.info.profile,user.info.stats");
        assert_eq!(
            user_fields(&all),
            "open_id,display_name,avatar_url,username,is_verified,follower_count,following_count,likes_count,video_count"
        );
    }

    #[test]
    fn ids_and_counts_are_read_from_strings_or_numbers_and_nonsense_is_refused() {
        let data = serde_json::json!({"videos": [
            {"id": "7602997517160123666", "view_count": 12, "like_count": "3", "share_count": -1},
        ]});
        let read = videos(&data, 200, "").unwrap();
        assert_eq!(read[0].id, PublicPostId(7_602_997_517_160_123_666));
        assert_eq!(read[0].view_count, Some(12));
        assert_eq!(read[0].like_count, Some(3));
        assert_eq!(read[0].share_count, None);
        assert_eq!(read[0].comment_count, None);
        let bad = serde_json::json!({"videos": [{"id": "not-a-number"}]});
        assert_eq!(
            videos(&bad, 200, "").unwrap_err().classification().id(),
            "malformed_response"
        );
        let not_list = serde_json::json!({"videos": {"id": "1"}});
        assert!(videos(&not_list, 200, "").is_err());
        assert!(videos(&serde_json::json!({}), 200, "").unwrap().is_empty());
    }
}

//! What the server needs from a push event's body: the pushed branch, the commit it now points
//! at, and the URLs of the pushed repository. Both forges write these alike; every other field
//! is ignored.

use serde::Deserialize;

use super::error::WebhookError;

/// What the server needs from a push event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Push {
    /// `main` for `refs/heads/main`; `None` for tags and other refs.
    pub branch: Option<String>,
    /// The commit the ref now points at; `None` when the body has none, or when the ref was
    /// deleted (the forges then send forty zeros, which is no commit).
    pub after: Option<String>,
    /// The URLs the forge names the pushed repository by (`clone_url`, `ssh_url`, …), to
    /// tell a push to a watched flake input's repository.
    pub repository_urls: Vec<String>,
}

/// The branch, commit and repository of a push event body. Both forges send `ref` and
/// `after` at the top level and the repository's URLs under `repository`; every other field
/// is ignored.
pub(crate) fn parse_push(body: &[u8]) -> Result<Push, WebhookError> {
    #[derive(Deserialize)]
    struct PushBody {
        #[serde(rename = "ref")]
        git_ref: Option<String>,
        after: Option<String>,
        repository: Option<serde_json::Map<String, serde_json::Value>>,
    }
    const URL_FIELDS: [&str; 5] = ["clone_url", "ssh_url", "git_url", "html_url", "url"];

    let parsed: PushBody = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("not a push event: {e}")))?;
    let git_ref = parsed
        .git_ref
        .ok_or_else(|| WebhookError::Malformed("the push event has no \"ref\"".to_owned()))?;
    let branch = git_ref
        .strip_prefix("refs/heads/")
        .filter(|name| !name.is_empty())
        .map(str::to_owned);
    let after = parsed
        .after
        .filter(|commit| !commit.is_empty() && !commit.bytes().all(|b| b == b'0'));
    let repository_urls = parsed
        .repository
        .map(|repository| {
            URL_FIELDS
                .iter()
                .filter_map(|field| repository.get(*field)?.as_str())
                .filter(|url| !url.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Push {
        branch,
        after,
        repository_urls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_branch_push_gives_branch_and_commit() {
        let body = br#"{
          "ref": "refs/heads/main",
          "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
          "after": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",
          "repository": {"id": 1296269, "full_name": "octocat/fleet", "default_branch": "main",
                         "clone_url": "https://github.com/octocat/fleet.git",
                         "ssh_url": "git@github.com:octocat/fleet.git"},
          "pusher": {"name": "octocat", "email": "octocat@example.com"},
          "created": false, "deleted": false, "forced": false,
          "compare": "https://github.com/octocat/fleet/compare/6113728f27ae...59b20b8d5c6f",
          "commits": [{"id": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5", "message": "laptop: 24.11"}],
          "head_commit": {"id": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5"}
        }"#;
        assert_eq!(
            parse_push(body).unwrap(),
            Push {
                branch: Some("main".to_owned()),
                after: Some("59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5".to_owned()),
                repository_urls: vec![
                    "https://github.com/octocat/fleet.git".to_owned(),
                    "git@github.com:octocat/fleet.git".to_owned(),
                ],
            }
        );
    }

    #[test]
    fn branch_names_with_slashes_are_kept_whole() {
        let push = parse_push(br#"{"ref":"refs/heads/release/24.11","after":"abc"}"#).unwrap();
        assert_eq!(push.branch.as_deref(), Some("release/24.11"));
    }

    #[test]
    fn tag_push_has_no_branch() {
        let push = parse_push(
            br#"{"ref":"refs/tags/v1","after":"59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5"}"#,
        )
        .unwrap();
        assert_eq!(push.branch, None);
        assert!(push.after.is_some());
    }

    #[test]
    fn deleted_branch_has_no_commit() {
        let body = br#"{"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000","deleted":true}"#;
        let push = parse_push(body).unwrap();
        assert_eq!(push.branch.as_deref(), Some("main"));
        assert_eq!(push.after, None);
    }

    #[test]
    fn missing_after_is_none() {
        let push = parse_push(br#"{"ref":"refs/heads/main"}"#).unwrap();
        assert_eq!(push.after, None);
    }

    #[test]
    fn malformed_bodies_are_malformed() {
        for body in [
            &b"{not json"[..],
            b"",
            b"[]",
            b"{\"after\":\"abc\"}",
            b"{\"ref\":42}",
        ] {
            match parse_push(body) {
                Err(WebhookError::Malformed(reason)) => assert!(!reason.is_empty()),
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
    }
}

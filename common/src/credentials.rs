//! Credentials in URLs: a repository URL's user info and credential-like query parameters
//! never reach any reader, the server's log included. [`redact_url`] is the URL as it may be
//! shown (the box's status and `config show` alike); [`Secrets`] scrubs the same values out of
//! what gix or git say (their errors may echo the URL, decoded or not).

/// What stands for a hidden credential.
pub const HIDDEN: &str = "***";

/// Query parameters whose value is a credential whatever else the name says: forges' tokens
/// (`access_token`, `private_token`, GitLab's `job_token`), signed URLs' signatures, keys.
const SECRET_PARAM_WORDS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "pass",
    "pwd",
    "secret",
    "key",
    "auth",
    "sig",
    "signature",
    "credential",
];

/// Shorter values are not scrubbed from free text: replacing `a` everywhere would hide nothing
/// and garble everything.
const MIN_SECRET_LEN: usize = 4;

/// Whether a query parameter named `name` carries a credential.
fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAM_WORDS.iter().any(|word| name.contains(word))
}

/// The parts of a URL that hold credentials: `(user info, its byte range)` and the values of
/// credential-like query parameters with their ranges.
struct UrlParts<'a> {
    /// `user[:password]` and where it sits, when it is a credential: it has a password, or
    /// it is a lone user of an HTTP URL (`https://TOKEN@github.com/…`). A lone ssh user (`git@`)
    /// is a login name, not a secret.
    userinfo: Option<(&'a str, std::ops::Range<usize>)>,
    params: Vec<(&'a str, std::ops::Range<usize>)>,
}

fn url_parts(url: &str) -> UrlParts<'_> {
    let mut parts = UrlParts {
        userinfo: None,
        params: Vec::new(),
    };
    let Some(scheme_end) = url.find("://") else {
        return parts;
    };
    let scheme = url[..scheme_end].to_ascii_lowercase();
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| authority_start + at);
    if let Some(at) = url[authority_start..authority_end].rfind('@') {
        let info = &url[authority_start..authority_start + at];
        if info.contains(':') || scheme.ends_with("http") || scheme.ends_with("https") {
            parts.userinfo = Some((info, authority_start..authority_start + at));
        }
    }
    let Some(query_start) = url[authority_end..]
        .find('?')
        .map(|q| authority_end + q + 1)
    else {
        return parts;
    };
    let query_end = url[query_start..]
        .find('#')
        .map_or(url.len(), |at| query_start + at);
    let mut at = query_start;
    for pair in url[query_start..query_end].split(['&', ';']) {
        if let Some((name, value)) = pair.split_once('=')
            && is_secret_param(name)
            && !value.is_empty()
        {
            let start = at + name.len() + 1;
            parts.params.push((value, start..start + value.len()));
        }
        at += pair.len() + 1;
    }
    parts
}

/// `url` as it may be shown: user info and the values of credential-like query parameters
/// replaced by `***` (`https://***@git.example.org/fleet.git?ref=main&access_token=***`).
/// Anything that is not a URL with a scheme (a local path, `git@host:path`) is returned as is.
pub fn redact_url(url: &str) -> String {
    let parts = url_parts(url);
    let mut ranges: Vec<std::ops::Range<usize>> = parts.params.into_iter().map(|p| p.1).collect();
    ranges.extend(parts.userinfo.map(|u| u.1));
    ranges.sort_by_key(|r| r.start);
    let mut shown = String::with_capacity(url.len());
    let mut from = 0;
    for range in ranges {
        shown.push_str(&url[from..range.start]);
        shown.push_str(HIDDEN);
        from = range.end;
    }
    shown.push_str(&url[from..]);
    shown
}

/// The credentials of one URL (and any added later, such as those of a credentials file), to
/// be scrubbed out of free text: the URL itself is replaced by its shown form, then each
/// credential, as written and percent-decoded, by `***`.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    url: Option<(String, String)>,
    /// Longest first.
    words: Vec<String>,
}

impl Secrets {
    /// The secrets of `url`: its user info and credential-like query parameters.
    pub fn of_url(url: &str) -> Secrets {
        let mut secrets = Secrets::default();
        let shown = redact_url(url);
        if shown != url {
            secrets.url = Some((url.to_string(), shown));
        }
        let parts = url_parts(url);
        if let Some((info, _)) = parts.userinfo {
            match info.split_once(':') {
                Some((user, password)) => {
                    secrets.add(password);
                    // `user:password`, whole: a user alone may be a common word.
                    secrets.add(info);
                    if user.len() >= 20 {
                        secrets.add(user);
                    }
                }
                None => secrets.add(info),
            }
        }
        for (value, _) in parts.params {
            secrets.add(value);
        }
        secrets
    }

    /// Also scrubs `secret` (and its percent-decoded form).
    pub fn add(&mut self, secret: &str) {
        let decoded = percent_encoding::percent_decode_str(secret)
            .decode_utf8_lossy()
            .into_owned();
        let encoded =
            percent_encoding::utf8_percent_encode(&decoded, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        for form in [secret.to_string(), decoded, encoded] {
            if form.len() >= MIN_SECRET_LEN && !self.words.contains(&form) {
                self.words.push(form);
            }
        }
        self.words
            .sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    }

    /// Whether there is nothing to scrub (`hide` then returns its text unchanged).
    pub fn is_empty(&self) -> bool {
        self.url.is_none() && self.words.is_empty()
    }

    /// `text` without any of the credentials.
    pub fn hide(&self, text: &str) -> String {
        let mut text = text.to_string();
        if let Some((url, shown)) = &self.url
            && text.contains(url.as_str())
        {
            text = text.replace(url.as_str(), shown);
        }
        for word in &self.words {
            if text.contains(word.as_str()) {
                text = text.replace(word.as_str(), HIDDEN);
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_shown_as_stars() {
        for (url, shown) in [
            (
                "https://user:SECRET@git.example.org/fleet.git",
                "https://***@git.example.org/fleet.git",
            ),
            (
                "https://ghp_abcdef123456@github.com/me/fleet",
                "https://***@github.com/me/fleet",
            ),
            (
                "https://git.example.org/fleet.git?ref=main&access_token=SECRET&private_token=S2#x",
                "https://git.example.org/fleet.git?ref=main&access_token=***&private_token=***#x",
            ),
            (
                "ssh://deploy:pw%40x@git.example.org:2222/fleet",
                "ssh://***@git.example.org:2222/fleet",
            ),
            // A login name of ssh is not a secret; paths and scp-like forms have no user info.
            (
                "ssh://git@github.com/me/fleet",
                "ssh://git@github.com/me/fleet",
            ),
            ("git@github.com:me/fleet.git", "git@github.com:me/fleet.git"),
            ("/srv/git/fleet", "/srv/git/fleet"),
            ("https://h/p@x?key=", "https://h/p@x?key="),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn secrets_are_scrubbed_from_free_text_in_every_form() {
        let url = "https://user:S%2FECRET@127.0.0.1:9/fleet.git?token=TOK123";
        let secrets = Secrets::of_url(url);
        let text = format!(
            "failed to fetch {url}: 401 for https://user:S/ECRET@127.0.0.1:9/ (token TOK123, S%2FECRET)"
        );
        let hidden = secrets.hide(&text);
        for secret in ["S%2FECRET", "S/ECRET", "TOK123"] {
            assert!(!hidden.contains(secret), "{hidden}");
        }
        assert!(
            hidden.contains("https://***@127.0.0.1:9/fleet.git?token=***"),
            "{hidden}"
        );
        let mut more = Secrets::of_url("https://git.example.org/fleet.git");
        assert!(more.is_empty());
        more.add("from-a-file");
        assert_eq!(more.hide("a from-a-file b"), "a *** b");
    }
}

//! The forge that sent a webhook, and what its headers name besides the signature: the
//! event kind and the delivery's id. Each forge names its headers differently; Forgejo sends
//! Gitea's as well as its own.

/// The forge that sent a webhook; each names its headers differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forge {
    GitHub,
    /// Forgejo and Gitea: Forgejo sends both its own headers and Gitea's.
    Forgejo,
}

impl Forge {
    /// The name deliveries are remembered under.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::Forgejo => "forgejo",
        }
    }
}

const GITHUB_EVENT_HEADER: &str = "x-github-event";
const FORGEJO_EVENT_HEADERS: [&str; 2] = ["x-forgejo-event", "x-gitea-event"];
const GITHUB_DELIVERY_HEADER: &str = "x-github-delivery";
const FORGEJO_DELIVERY_HEADERS: [&str; 2] = ["x-forgejo-delivery", "x-gitea-delivery"];
/// The longest delivery id taken; the forges send a UUID (36 characters).
pub(super) const MAX_DELIVERY_LENGTH: usize = 128;

/// The event kind (`push`, `ping`, …) from `X-GitHub-Event`, or `X-Forgejo-Event` /
/// `X-Gitea-Event`; `None` when the header is absent.
pub(crate) fn event_kind(forge: Forge, header: impl Fn(&str) -> Option<String>) -> Option<String> {
    match forge {
        Forge::GitHub => first_header(&header, &[GITHUB_EVENT_HEADER]),
        Forge::Forgejo => first_header(&header, &FORGEJO_EVENT_HEADERS),
    }
}

/// The delivery's id, which a redelivery of the same event repeats: `X-GitHub-Delivery`, or
/// `X-Forgejo-Delivery` / `X-Gitea-Delivery`. `None` when absent, or when it is not a
/// plausible id (up to 128 visible ASCII characters).
pub(crate) fn delivery_id(forge: Forge, header: impl Fn(&str) -> Option<String>) -> Option<String> {
    let id = match forge {
        Forge::GitHub => first_header(&header, &[GITHUB_DELIVERY_HEADER]),
        Forge::Forgejo => first_header(&header, &FORGEJO_DELIVERY_HEADERS),
    }?;
    let plausible = id.len() <= MAX_DELIVERY_LENGTH && id.bytes().all(|b| b.is_ascii_graphic());
    plausible.then_some(id)
}

/// The first of `names` that is present, trimmed; a header with an empty value counts as absent.
pub(super) fn first_header(
    header: &impl Fn(&str) -> Option<String>,
    names: &[&str],
) -> Option<String> {
    names
        .iter()
        .filter_map(|name| header(name))
        .map(|value| value.trim().to_owned())
        .find(|value| !value.is_empty())
}

/// A header lookup over fixed pairs, for tests; names compare case-insensitively, as hyper's do.
#[cfg(test)]
pub(super) fn fixed_headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use fixed_headers as headers;

    #[test]
    fn event_kind_reads_each_forges_header() {
        let github = headers(&[("X-GitHub-Event", "push")]);
        assert_eq!(event_kind(Forge::GitHub, github).as_deref(), Some("push"));
        let forgejo = headers(&[("X-Forgejo-Event", "push")]);
        assert_eq!(event_kind(Forge::Forgejo, forgejo).as_deref(), Some("push"));
        let gitea = headers(&[("X-Gitea-Event", "ping")]);
        assert_eq!(event_kind(Forge::Forgejo, gitea).as_deref(), Some("ping"));
        assert_eq!(event_kind(Forge::GitHub, headers(&[])), None);
        let wrong_forge = headers(&[("X-GitHub-Event", "push")]);
        assert_eq!(event_kind(Forge::Forgejo, wrong_forge), None);
    }

    #[test]
    fn delivery_id_reads_each_forges_header() {
        let github = headers(&[("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")]);
        assert_eq!(
            delivery_id(Forge::GitHub, github).as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        let forgejo = headers(&[("X-Forgejo-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473")]);
        assert!(delivery_id(Forge::Forgejo, forgejo).is_some());
        let gitea = headers(&[("X-Gitea-Delivery", "abc")]);
        assert_eq!(delivery_id(Forge::Forgejo, gitea).as_deref(), Some("abc"));
        assert_eq!(delivery_id(Forge::GitHub, headers(&[])), None);
        let wrong_forge = headers(&[("X-Gitea-Delivery", "abc")]);
        assert_eq!(delivery_id(Forge::GitHub, wrong_forge), None);
        let long = "a".repeat(129);
        for bad in ["two words", "tab\there", long.as_str()] {
            let header = headers(&[("X-GitHub-Delivery", bad)]);
            assert_eq!(delivery_id(Forge::GitHub, header), None, "{bad:?}");
        }
    }
}

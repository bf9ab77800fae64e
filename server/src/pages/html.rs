//! Writing HTML safely: every text that comes from outside (targets, log lines, commit
//! messages, host names, errors) goes through `Escaped`, so it shows as text and never as
//! markup. Also the page shell (head, header, the one stylesheet and script, both ours) and
//! the response headers every page gets, among them a Content-Security-Policy that lets the
//! browser load nothing from anywhere but this server.

use std::fmt;

use hyper::header::{CACHE_CONTROL, HeaderValue};
use hyper::{Response, StatusCode};

use crate::http::body::Body;
use crate::http::response::with_type;

/// The policy every page is served with: only this server's own files, no inline script or
/// style, no framing, no plugins.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'; object-src 'none'";

/// Text made safe for HTML element content and quoted attribute values.
pub(super) struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// A whole page: `main` is the page's own markup (already escaped where needed), and
/// `main_attrs` the attributes of its `<main>` element (the script reads them).
pub(super) fn page(title: &str, main_attrs: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>{title}</title>\
         <link rel=\"icon\" href=\"{icon}\" type=\"image/svg+xml\">\
         <link rel=\"stylesheet\" href=\"{style}\">\
         <script src=\"{script}\" defer></script></head>\n<body>\
         <header><a href=\"/\">atuin-bootstrap</a><span class=\"mute\">{version}</span>\
         <span id=\"live\" class=\"live\"></span></header>\n\
         <main {main_attrs}>\n{main}</main>\n</body></html>\n",
        title = Escaped(title),
        icon = ICON_PATH,
        style = STYLE_PATH,
        script = SCRIPT_PATH,
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// A page as a response: HTML, never cached (it is live), with the page headers.
pub(super) fn respond(status: StatusCode, html: String) -> Response<Body> {
    let mut response = with_type(status, "text/html; charset=utf-8", html);
    add_page_headers(&mut response);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Where the page shell finds its assets (served by `assets`).
pub(super) const STYLE_PATH: &str = "/assets/style.css";
pub(super) const SCRIPT_PATH: &str = "/assets/live.js";
pub(super) const ICON_PATH: &str = "/assets/icon.svg";

/// The headers of every page and asset: what may load, no sniffing, no referrer.
pub(super) fn add_page_headers(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escape(text: &str) -> String {
        Escaped(text).to_string()
    }

    #[test]
    fn markup_from_outside_stays_text() {
        assert_eq!(
            escape("<script>alert(1)</script> & \"x\" 'y'"),
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; &#39;y&#39;"
        );
        assert_eq!(escape("plain ✓ text"), "plain ✓ text");
        let page = page("<b>", "id=\"x\"", "<p>hi</p>");
        assert!(page.contains("<title>&lt;b&gt;</title>"));
        assert!(page.contains("<main id=\"x\">"));
        assert!(
            !page.contains("http:"),
            "a page names no other site: {page}"
        );
    }
}

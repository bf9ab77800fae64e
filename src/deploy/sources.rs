//! Where a deploy downloads its system from: the box's cache, and after it the bucket the box
//! publishes to (`publish.read_url`, which the box announces in its status), so a box whose
//! uplink is busy or that falls asleep mid-download does not fail the deploy. Both are signed
//! by the box's build key and Nix tries them in order of priority (the box's first), path by
//! path. Without a bucket, or when the status cannot be read, only the box.

use crate::client::ApiClient;

/// Nix's `substituters` for the download: the box, then its bucket when it announces one.
pub fn substituters(api: &ApiClient) -> String {
    let bucket = api
        .status()
        .ok()
        .and_then(|status| status.publish)
        .and_then(|publish| publish.read_url);
    join(api.base(), bucket.as_deref())
}

fn join(box_url: &str, bucket: Option<&str>) -> String {
    match bucket {
        Some(bucket) if bucket != box_url => format!("{box_url} {bucket}"),
        _ => box_url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_comes_after_the_box() {
        assert_eq!(join("http://box:8780", None), "http://box:8780");
        assert_eq!(
            join("http://box:8780", Some("https://cache.example.org")),
            "http://box:8780 https://cache.example.org"
        );
    }
}

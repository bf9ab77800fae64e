//! Where a deploy downloads its system from: the box's cache, and after it the bucket the box
//! publishes to (`publish.read_url`, which the box announces in its status), so a box whose
//! uplink is busy or that falls asleep mid-download does not fail the deploy. Both are signed
//! by the box's build key; the bucket is tried only when the box could not give the system.
//! Without a bucket, or when the status cannot be read, only the box.

use crate::client::ApiClient;

/// The caches to download from, in order: the box, then its bucket when it announces one.
pub(super) fn caches(api: &ApiClient) -> Vec<String> {
    let bucket = api
        .status()
        .ok()
        .and_then(|status| status.publish)
        .and_then(|publish| publish.read_url);
    in_order(api.base(), bucket.as_deref())
}

fn in_order(box_url: &str, bucket: Option<&str>) -> Vec<String> {
    let mut caches = vec![box_url.to_string()];
    if let Some(bucket) = bucket.filter(|bucket| !bucket.is_empty() && *bucket != box_url) {
        caches.push(bucket.to_string());
    }
    caches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_comes_after_the_box() {
        assert_eq!(in_order("http://box:8780", None), ["http://box:8780"]);
        assert_eq!(
            in_order("http://box:8780", Some("https://cache.example.org")),
            ["http://box:8780", "https://cache.example.org"]
        );
        assert_eq!(
            in_order("http://box:8780", Some("http://box:8780")),
            ["http://box:8780"]
        );
    }
}

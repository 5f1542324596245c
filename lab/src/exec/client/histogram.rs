//! The client's latencies in HDR histograms of microseconds (1 µs to 60 s, 3 significant
//! digits: within 0.1%), summarised as percentiles in ms and kept as compact text (V2 deflate,
//! base64) so runs can be merged and compared later without their raw requests.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

use crate::results::LatencyMs;

/// The longest latency recorded as itself, µs (60 s); longer ones are recorded as this.
pub const MAX_US: u64 = 60_000_000;

/// An empty histogram of microseconds.
pub fn new() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds are valid")
}

/// Percentiles and mean, in ms.
pub fn summary(h: &Histogram<u64>) -> LatencyMs {
    if h.is_empty() {
        return LatencyMs::default();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    LatencyMs {
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
        mean_ms: (h.mean() / 1000.0 * 1000.0).round() / 1000.0,
    }
}

/// The histogram as text.
pub fn encode(h: &Histogram<u64>) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| anyhow::anyhow!("serializing a histogram: {e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A histogram back from its text.
pub fn decode(text: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
    let decoded: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("reading a histogram: {e:?}"))?;
    let mut h = new();
    h.add(&decoded)
        .map_err(|e| anyhow::anyhow!("merging a histogram: {e:?}"))?;
    Ok(h)
}

/// Several histograms as one (e.g. the repetitions of one side of an A/B).
pub fn merge<'a>(all: impl IntoIterator<Item = &'a Histogram<u64>>) -> Histogram<u64> {
    let mut merged = new();
    for h in all {
        // Same bounds everywhere: adding cannot fail.
        let _ = merged.add(h);
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_merge_and_survive_their_text_form() {
        let mut a = new();
        let mut b = new();
        for us in 1..=1000u64 {
            a.record(us * 100).unwrap();
        }
        for us in 1..=1000u64 {
            b.record(us * 1000).unwrap();
        }
        let merged = merge([&a, &b]);
        assert_eq!(merged.len(), 2000);
        assert_eq!(merged.max(), b.max());
        // a: 0.1 to 100 ms; b: 1 to 1000 ms. 1,100 values lie under 100 ms, so the median is
        // a's 909th value or so (b's first hundred are among them), about 91 ms.
        let s = summary(&merged);
        assert!((s.p50_ms - 91.0).abs() < 0.5, "{s:?}");
        assert!((s.p99_ms - 980.0).abs() < 1.0, "{s:?}");
        let back = decode(&encode(&merged).unwrap()).unwrap();
        assert_eq!(summary(&back), s);
        assert!(decode("not base64 !").is_err());
    }

    #[test]
    fn microseconds_are_resolved_and_minutes_saturate() {
        let mut h = new();
        h.record(1234).unwrap();
        assert_eq!(summary(&h).p50_ms, 1.234);
        h.saturating_record(10 * MAX_US);
        assert!(summary(&h).max_ms <= MAX_US as f64 / 1000.0 * 1.001);
    }
}
